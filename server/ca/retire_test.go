package ca

import (
	"context"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

func (f *fixture) keyFiles() []string {
	f.t.Helper()
	paths, err := filepath.Glob(filepath.Join(f.dir, "keys", "*.pem"))
	if err != nil {
		f.t.Fatal(err)
	}
	ids := make([]string, len(paths))
	for i, p := range paths {
		ids[i] = strings.TrimSuffix(filepath.Base(p), ".pem")
	}
	return ids
}

// liveKeyIDs are the key IDs the journal names.
func (c *CA) liveKeyIDs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := map[string]bool{}
	for _, s := range c.journal.X509 {
		ids[s.KeyID] = true
	}
	for _, s := range slices.Concat(c.journal.JWT, c.journal.WIT) {
		ids[s.KeyID] = true
	}
	return ids
}

// Ten CA lifetimes of rotation leave only the keys of live slots in data_dir/keys: a retired
// CA, JWT or WIT key is deleted once it expired and left the journal and the bundle.
func TestRetiredKeysAreDeleted(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	first := c.X509Authorities()[0]
	firstKeys := f.keyFiles()
	if len(firstKeys) != 3 {
		t.Fatalf("a new CA made %d keys, want an X.509 CA key, a JWT key and a WIT key", len(firstKeys))
	}
	for step := range 10 * 12 { // 30 minute steps through ten 6h lifetimes
		f.clock.Step(30 * time.Minute)
		if err := c.Rotate(context.Background()); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		live, files := c.liveKeyIDs(), f.keyFiles()
		for _, id := range files {
			if !live[id] {
				t.Fatalf("step %d: data_dir/keys holds %s, which no live slot uses (%d key files)", step, id, len(files))
			}
		}
		if len(files) != len(live) {
			t.Fatalf("step %d: %d key files for %d live slots", step, len(files), len(live))
		}
	}
	for _, a := range f.bundle().X509Authorities {
		if string(a.DER) == string(first.Raw) {
			t.Fatal("the first CA is still in the bundle")
		}
	}
	for _, id := range firstKeys {
		if _, err := f.km.GetKey(context.Background(), id); err == nil {
			t.Fatalf("the key manager still holds retired key %s", id)
		}
	}
}

// A journal restored from a backup may name an expired slot whose key was deleted since:
// the CA drops that slot and goes on with the live ones instead of starting a new CA.
func TestAnExpiredSlotWithoutItsKeyDoesNotStartANewCA(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	first := c.X509Authorities()[0]
	f.clock.Step(4 * time.Hour) // past half of 6h: the next CA is prepared
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var next *x509.Certificate
	for _, a := range c.X509Authorities() {
		if !a.Equal(first) {
			next = a
		}
	}
	backup, err := f.store.FetchCAJournal(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Step(3 * time.Hour) // the first CA expired: dropped and its key deleted
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetCAJournal(context.Background(), "s1", backup); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	restarted := f.newCA(func(cfg *Config) { cfg.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	if got := restarted.X509Authorities(); len(got) != 1 || !got[0].Equal(next) {
		t.Fatalf("after restoring the journal the CA has %d authorities, want only the one prepared before the backup:\n%s", len(got), logs.String())
	}
}

// Run rotates on the injected clock's ticker, so rotation needs no real waiting.
func TestRunRotatesOnTheInjectedClock(t *testing.T) {
	f := newFixture(t)
	c := f.newCA(func(cfg *Config) { cfg.RotateEvery = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	poll.Until(t, 5*time.Second, "Run waits on the clock's ticker", f.clock.HasWaiters)
	f.clock.Step(3 * time.Hour) // half of 6h: the ticker fires and the next CA is prepared
	poll.Until(t, 5*time.Second, "the next CA is published", func() bool { return len(f.bundle().X509Authorities) == 2 })
}
