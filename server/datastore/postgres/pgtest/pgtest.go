// Package pgtest starts a throwaway PostgreSQL cluster for tests and the scale benchmark:
// Debian's server binaries, a temporary data directory, an unprivileged user, and 127.0.0.1
// on a free port.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lanyard-dev/lanyard/internal/freeport"
)

// RequireEnv, set to 1, turns a missing PostgreSQL into a test failure instead of a skip.
const RequireEnv = "LANYARD_REQUIRE_PG"

// runAsUser is who runs the cluster when the tests run as root: postgres refuses root.
const runAsUser = "nobody"

// Cluster is a running PostgreSQL server. Its superuser is "lanyard", trusted without a
// password on 127.0.0.1 only.
type Cluster struct {
	Port int
	bin  string
	dir  string
	cred *syscall.Credential
	dbs  atomic.Int64
}

// BinDir returns the directory holding initdb and pg_ctl of the newest PostgreSQL installed
// from Debian packages (/usr/lib/postgresql/<version>/bin), or "" when there is none.
func BinDir() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	version := func(p string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return v
	}
	slices.SortFunc(matches, func(a, b string) int { return version(a) - version(b) })
	return filepath.Dir(matches[len(matches)-1])
}

// ErrNotInstalled is New's error when no PostgreSQL server binaries are installed.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run e2e/pg/install.sh")

// Start starts a cluster that t.Cleanup stops and deletes. Without PostgreSQL it skips t,
// or fails it when LANYARD_REQUIRE_PG=1.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := New()
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v, and %s=1", err, RequireEnv)
		}
		t.Skipf("%v, or set %s=1 to fail", err, RequireEnv)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Log(err)
		}
	})
	return c
}

// New starts a cluster outside a test (the benchmark); Stop stops and deletes it. Without
// PostgreSQL it returns ErrNotInstalled.
func New() (_ *Cluster, err error) {
	bin := BinDir()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	c := &Cluster{bin: bin}
	if c.dir, err = os.MkdirTemp("", "lanyard-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(c.dir)
		}
	}()
	if os.Geteuid() == 0 {
		u, err := user.Lookup(runAsUser)
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the user %q to run postgres: %w", runAsUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "lanyard", "--auth=trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A free port can be taken by someone else before postgres binds it; try a few.
	for attempt := 0; ; attempt++ {
		if c.Port, err = freeport.Find(); err != nil {
			return nil, err
		}
		out, err := c.start()
		if err == nil {
			return c, nil
		}
		if attempt == 2 {
			logText, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			return nil, fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, logText)
		}
	}
}

// Stop stops the cluster and deletes its files.
func (c *Cluster) Stop() error {
	defer os.RemoveAll(c.dir)
	if out, err := c.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", c.data()); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) start() ([]byte, error) {
	return c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", filepath.Join(c.dir, "log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.Port, c.dir))
}

// Restart stops the server, cutting every connection, and starts it again on the same port.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if out, err := c.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", c.data()); err != nil {
		t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	if out, err := c.start(); err != nil {
		t.Fatalf("pgtest: pg_ctl start after stop: %v\n%s", err, out)
	}
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + c.bin + ":/usr/bin:/bin", "LC_ALL=C", "HOME=" + c.dir}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

// URL is the connection string of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://lanyard@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// NewDatabase creates an empty database and returns its connection string.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	url, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// CreateDatabase is NewDatabase outside a test.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	if err := Exec(ctx, c.URL("postgres"), "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	return c.URL(name), nil
}

// Exec runs one statement in the database at url.
func Exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(sql)[0], err)
	}
	return nil
}
