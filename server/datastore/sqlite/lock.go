package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lanyard-dev/lanyard/internal/durable"
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

// openMarker is the lock file next to the database, path+".lock". It exists from the first
// Open until the last clean Close, so finding it at Open with no other holder means the
// last server stopped uncleanly (kill -9, crash, power loss). Stores hold a shared flock on
// it while open and a restore an exclusive one, so a restore cannot replace the file under
// a running server, nor a server open a file being restored.
type openMarker struct {
	path string
	f    *os.File
	// unclean is true when the marker was there with no holder: the last run did not close.
	unclean bool
	// created is true when this open made the file.
	created bool
}

func lockPath(dbPath string) string { return dbPath + ".lock" }

// acquireMarker takes the marker shared (a store) or exclusive (a restore).
func acquireMarker(dbPath string, exclusive bool) (*openMarker, error) {
	path := lockPath(dbPath)
	inUse := fmt.Errorf("sqlite: %s: %w (a lanyard-server, or a restore, holds %s): stop it first", dbPath, ErrInUse, path)
	for {
		_, statErr := os.Stat(path)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlite: create lock file %s: %w", path, err)
		}
		alone := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
		if !alone && (exclusive || unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil) {
			f.Close()
			return nil, inUse
		}
		// The last holder may have removed the file between our open and our lock.
		if !isFileAt(f, path) {
			f.Close()
			continue
		}
		if alone && !exclusive && unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil {
			f.Close()
			return nil, inUse
		}
		if err := durable.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("sqlite: lock file %s: %w", path, err)
		}
		return &openMarker{path: path, f: f, unclean: alone && statErr == nil, created: errors.Is(statErr, os.ErrNotExist)}, nil
	}
}

func isFileAt(f *os.File, path string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	there, err := os.Stat(path)
	return err == nil && os.SameFile(held, there)
}

// last reports whether no one else holds the marker (and takes it exclusively).
func (m *openMarker) last() bool {
	return unix.Flock(int(m.f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// release unlocks the marker and, when this was its last holder and the database closed
// cleanly (its write-ahead log checkpointed away), removes it.
func (m *openMarker) release(dbPath string) {
	if info, err := os.Stat(dbPath + "-wal"); errors.Is(err, os.ErrNotExist) || err == nil && info.Size() == 0 {
		if m.last() {
			os.Remove(m.path)
		}
	}
	m.f.Close()
}

// abandon undoes acquireMarker after a failed open: the marker stays only if it was there.
func (m *openMarker) abandon() {
	if m.created && m.last() {
		os.Remove(m.path)
	}
	m.f.Close()
}
