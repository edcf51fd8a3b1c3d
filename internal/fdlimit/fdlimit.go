// Package fdlimit raises the open file limit (RLIMIT_NOFILE) for long-running daemons and
// reports it, so that components holding one descriptor per client can size their caps.
package fdlimit

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// Raise sets the soft limit on open files to the hard limit (the Go runtime usually has
// done so already, to one less) and returns the soft limit now in force.
func Raise() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading the open file limit: %w", err)
	}
	if lim.Cur+1 >= lim.Max {
		return lim.Cur, nil
	}
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return Soft(), fmt.Errorf("raising the open file limit to %d: %w", lim.Max, err)
	}
	return lim.Cur, nil
}

// Soft returns the soft limit on open files, or 0 if it cannot be read.
func Soft() uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}

// RaiseAndLog raises the limit at a daemon's start and logs the outcome: a warning when it
// could not be raised (the daemon still runs, with caps sized to the lower limit).
func RaiseAndLog(log *slog.Logger) {
	if n, err := Raise(); err != nil {
		log.Warn("could not raise the open file limit", "open_file_limit", n, "error", err)
	} else {
		log.Debug("open file limit", "open_file_limit", n)
	}
}
