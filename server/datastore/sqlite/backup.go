package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/lanyard-dev/lanyard/internal/durable"
)

// Backup writes a consistent copy of the database at dbPath to dest, which must not exist.
// A running server may keep writing: VACUUM INTO reads one snapshot in a single read
// transaction, which in WAL mode neither blocks the server's writer nor sees half of its
// transactions. The copy is one self-contained file (no log), fsynced, mode 0600, and
// checked with PRAGMA quick_check. It needs read access to the database, its -wal and -shm
// files: run it as the server's user.
func Backup(ctx context.Context, dbPath, dest string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	// VACUUM INTO accepts an existing empty file; creating it here makes it 0600 and
	// refuses to overwrite anything.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	if err := vacuumInto(ctx, dbPath, dest); err != nil {
		os.Remove(dest)
		return err
	}
	return nil
}

func vacuumInto(ctx context.Context, dbPath, dest string) error {
	db, err := openReadOnly(dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("sqlite: back up %s into %s: %w", dbPath, dest, err)
	}
	if err := syncFile(dest); err != nil {
		return fmt.Errorf("sqlite: backup %s: %w", dest, err)
	}
	return checkCopy(ctx, dest)
}

// Restore replaces the database at dbPath with the backup at src. It refuses (ErrInUse)
// while a server has the database open, and refuses a src that is not a readable
// lanyard database. The old database's -wal and -shm files are removed: SQLite would
// otherwise replay the old log into the restored file.
func Restore(ctx context.Context, src, dbPath string) (err error) {
	if err := preparePath(dbPath, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	marker, err := acquireMarker(dbPath, true)
	if err != nil {
		return err
	}
	// A restore that failed after it began replacing files leaves the marker, so the
	// half-done database does not look clean; one that failed before leaves things as they were.
	replacing := false
	defer func() {
		switch {
		case err == nil:
			marker.release(dbPath)
		case replacing:
			marker.f.Close()
		default:
			marker.abandon()
		}
	}()
	if err := checkCopy(ctx, src); err != nil {
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	tmp, err := copyToTemp(src, filepath.Dir(dbPath))
	if err != nil {
		return fmt.Errorf("sqlite: restore %s: %w", src, err)
	}
	defer os.Remove(tmp)
	replacing = true
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite: restore: remove the old log: %w", err)
		}
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := durable.SyncDir(filepath.Dir(dbPath)); err != nil {
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	return nil
}

// checkCopy checks that path is a readable, intact lanyard database (a backup).
func checkCopy(ctx context.Context, path string) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := quickCheck(ctx, db, path); err != nil {
		return err
	}
	var version int
	if err := db.QueryRowContext(ctx, "SELECT version FROM schema_version WHERE id = 1").Scan(&version); err != nil {
		return fmt.Errorf("sqlite: %s is not a lanyard-server database: %w", path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("sqlite: %s has schema version %d, newer than this lanyard-server's %d: %w",
			path, version, len(migrations), ErrSchemaTooNew)
	}
	return nil
}

func openReadOnly(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: fmt.Sprintf("mode=ro&_pragma=busy_timeout(%d)", busyTimeoutMS)}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func copyToTemp(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o600)
	}
	if err == nil {
		err = out.Sync()
	}
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
