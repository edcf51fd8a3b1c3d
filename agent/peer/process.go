package peer

import (
	"os"

	"golang.org/x/sys/unix"
)

// Process is a process named by PID that a caller asked about (the Delegated Identity
// API's "attest this PID"), pinned with a pidfd: once pinned, the PID cannot silently come
// to name another process. Whether the PID named the intended process when pinned is the
// asker's responsibility.
type Process struct {
	PID    int32
	pidfd  *pidfd
	exited chan struct{}
	file   *os.File // the pidfd's duplicate in the runtime poller, for Exited
}

// Pin opens a pidfd for pid. It fails (wrapping ErrExited) if no such process runs.
func Pin(pid int32) (*Process, error) {
	fd, err := openPidfd(pid)
	if err != nil {
		return nil, err
	}
	p := &Process{PID: pid, pidfd: &pidfd{fd: fd}, exited: make(chan struct{})}
	// A duplicate, non-blocking, lets the runtime poller wake us when the process exits
	// (a pidfd polls readable then) without a goroutine stuck in a syscall.
	if dup, err := unix.Dup(fd); err == nil {
		if unix.SetNonblock(dup, true) == nil {
			p.file = os.NewFile(uintptr(dup), "pidfd")
			go p.watch()
		} else {
			unix.Close(dup)
		}
	}
	return p, nil
}

// Check reports whether the pinned process still runs: nil, or ErrExited.
func (p *Process) Check() error { return p.pidfd.alive() }

// Exited is closed when the process exits (or Close is called). Without a poller for
// pidfds it never closes: use Check then.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Close releases the pidfd.
func (p *Process) Close() {
	p.pidfd.close()
	if p.file != nil {
		p.file.Close() // wakes watch
	}
}

func (p *Process) watch() {
	raw, err := p.file.SyscallConn()
	if err == nil {
		err = raw.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			return err != nil || n > 0
		})
	}
	if err != nil && p.Check() == nil {
		return // no poller for pidfds here: Exited never closes, Check still works
	}
	close(p.exited)
}
