package unix

import (
	"bytes"
	"os"
	"sync"
	"syscall"
	"time"
)

// idNames maps numeric ids to names from a passwd- or group-format file
// ("name:password:id:..."). The parsed file is reused until its identity, size or
// modification time changes, so a lookup costs one stat.
type idNames struct {
	path string

	mu    sync.Mutex
	stamp fileStamp
	names map[string]string
}

type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func newIDNames(path string) *idNames { return &idNames{path: path} }

// load returns the current id → name map; callers must not modify it.
func (n *idNames) load() map[string]string {
	fi, err := os.Stat(n.path)
	if err != nil {
		// No database (a minimal host image): selectors by name are simply absent.
		return nil
	}
	stamp := stampOf(fi)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names != nil && stamp == n.stamp {
		return n.names
	}
	data, err := os.ReadFile(n.path)
	if err != nil {
		return n.names
	}
	n.names, n.stamp = parseIDFile(data), stamp
	return n.names
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
	}
	return s
}

// parseIDFile keeps the first name for each id, as getpwuid(3) would.
func parseIDFile(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.SplitN(line, []byte{':'}, 4)
		if len(f) < 3 || len(f[0]) == 0 {
			continue
		}
		id := string(f[2])
		if _, dup := out[id]; !dup {
			out[id] = string(f[0])
		}
	}
	return out
}
