package unix

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// procStatus is what the attestor needs from /proc/<pid>/status.
type procStatus struct {
	uid, gid string   // real ids
	groups   []string // supplementary group ids
}

func readStatus(path string) (procStatus, error) {
	// A status file is 1-2 KiB; a pooled buffer avoids os.ReadFile's stat and allocation
	// on every Workload API call.
	bp := statusBufs.Get().(*[]byte)
	defer statusBufs.Put(bp)
	f, err := os.Open(path)
	if err != nil {
		return procStatus{}, err
	}
	defer f.Close()
	buf, n := *bp, 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
			*bp = buf
		}
		m, err := f.Read(buf[n:])
		n += m
		if err == io.EOF || (err == nil && m == 0) {
			break
		}
		if err != nil {
			return procStatus{}, err
		}
	}
	return parseStatus(buf[:n])
}

var statusBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// parseStatus reads the Uid, Gid and Groups lines. Uid and Gid list the real, effective,
// saved and filesystem ids; SPIRE's unix selectors use the real one, and so do we.
func parseStatus(data []byte) (procStatus, error) {
	var st procStatus
	var haveUID, haveGID bool
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		key, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		switch string(key) {
		case "Uid":
			id, err := firstID(rest)
			if err != nil {
				return st, fmt.Errorf("status Uid line: %w", err)
			}
			st.uid, haveUID = id, true
		case "Gid":
			id, err := firstID(rest)
			if err != nil {
				return st, fmt.Errorf("status Gid line: %w", err)
			}
			st.gid, haveGID = id, true
		case "Groups":
			for _, f := range strings.Fields(string(rest)) {
				if _, err := strconv.ParseUint(f, 10, 32); err != nil {
					return st, fmt.Errorf("status Groups line: %q is not a group id", f)
				}
				st.groups = append(st.groups, f)
			}
		}
	}
	if !haveUID || !haveGID {
		return st, fmt.Errorf("status has no Uid or Gid line")
	}
	return st, nil
}

func firstID(fields []byte) (string, error) {
	f := strings.Fields(string(fields))
	if len(f) == 0 {
		return "", fmt.Errorf("no ids")
	}
	if _, err := strconv.ParseUint(f[0], 10, 32); err != nil {
		return "", fmt.Errorf("%q is not an id", f[0])
	}
	return f[0], nil
}
