package unixsock

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckDir returns an error naming the problem and its fix when a user other than root
// and this process's user could replace a socket in dir: dir (or, for ancestors, a
// directory without the sticky bit) is writable by group or others, or any of them is
// owned by another user. Both the path as given and with symlinks resolved are checked.
func CheckDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", abs, err)
	}
	for _, d := range []string{abs, real} {
		if err := checkChain(d); err != nil {
			return err
		}
	}
	return nil
}

// checkChain checks dir and every directory above it.
func checkChain(dir string) error {
	euid := os.Geteuid()
	for d, parent := dir, true; ; d, parent = filepath.Dir(d), false {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("socket directory %s: cannot read its owner", d)
		}
		if owner := int(st.Uid); owner != 0 && owner != euid {
			return fmt.Errorf("socket directory %s is owned by uid %d, which could replace the socket: "+
				"use a directory owned by root or by uid %d (this process), e.g. remove it and let lanyard create it, or set another socket path", d, owner, euid)
		}
		writable := fi.Mode().Perm()&0o022 != 0
		if writable && (parent || fi.Mode()&fs.ModeSticky == 0) {
			return fmt.Errorf("socket directory %s is writable by other users (mode %v), who could replace the socket: "+
				"run chmod go-w %s, or set a socket path in a directory only root or uid %d can write", d, fi.Mode().Perm(), d, euid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
