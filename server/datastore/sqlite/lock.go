package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrInUse is wrapped by Open and Restore when another process has the database open.
var ErrInUse = errors.New("database is in use by another process")

var (
	// ErrLogDamaged is wrapped by Open when the write-ahead log is missing or damaged in a
	// way SQLite would silently paper over by losing committed transactions.
	// Options.AcceptLoss opens the database anyway.
	ErrLogDamaged = errors.New("write-ahead log is damaged")
	// ErrCorrupt is wrapped by Open when SQLite cannot read the database file or the file
	// fails its integrity check.
	ErrCorrupt = errors.New("database file is corrupt")
)

// openMarker is the lock file next to the database, path+".lock". It exists from Open until
// a clean Close, so finding it at Open means the last server stopped uncleanly (kill -9,
// crash, power loss); and the server holds an exclusive flock on it while it runs, so a
// second server, or a restore, cannot open the same file underneath it.
type openMarker struct {
	path string
	f    *os.File
	// unclean is true when the marker was already there: the previous run did not close.
	unclean bool
}

func lockPath(dbPath string) string { return dbPath + ".lock" }

func acquireMarker(dbPath string) (*openMarker, error) {
	path := lockPath(dbPath)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create lock file %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite: %s: %w (another lanyard-server, or a restore, holds %s): stop it first", dbPath, ErrInUse, path)
		}
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	if err := syncDir(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: lock file %s: %w", path, err)
	}
	return &openMarker{path: path, f: f, unclean: statErr == nil}, nil
}

// release unlocks the marker and, when the database closed cleanly (its write-ahead log
// checkpointed away), removes it.
func (m *openMarker) release(dbPath string) {
	if info, err := os.Stat(dbPath + "-wal"); errors.Is(err, os.ErrNotExist) || err == nil && info.Size() == 0 {
		os.Remove(m.path)
	}
	m.f.Close()
}

// abandon undoes acquireMarker after a failed open: the marker stays only if it was there.
func (m *openMarker) abandon() {
	if !m.unclean {
		os.Remove(m.path)
	}
	m.f.Close()
}

func syncDir(path string) error {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
