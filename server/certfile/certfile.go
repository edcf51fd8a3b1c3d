// Package certfile serves a TLS certificate kept in PEM files and picks up renewals
// (e.g. by certbot or cert-manager) without a restart.
package certfile

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files is a certificate read from PEM files and read again when either file's
// modification time changes. It is safe for concurrent use.
type Files struct {
	certFile, keyFile string
	what              string
	log               *slog.Logger
	// every bounds how often the files are looked at (1s; tests set 0).
	every time.Duration

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
	lastCheck       time.Time
}

// New loads the pair; what for names its use in log messages.
func New(certFile, keyFile, what string, log *slog.Logger) (*Files, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%s: cert_file and key_file are both required", what)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Files{certFile: certFile, keyFile: keyFile, what: what, log: log, every: time.Second}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Files) load() error {
	cm, km, err := c.modTimes()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading %s and %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.certMod, c.keyMod = &cert, cm, km
	return nil
}

func (c *Files) modTimes() (time.Time, time.Time, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return ci.ModTime(), ki.ModTime(), nil
}

// Get returns the current certificate, reloading it at most once a second when the files
// changed. A failed reload keeps serving the previous certificate. Its signature fits
// tls.Config.GetCertificate.
func (c *Files) Get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastCheck) < c.every {
		return c.cert, nil
	}
	c.lastCheck = time.Now()
	cm, km, err := c.modTimes()
	if err == nil && (!cm.Equal(c.certMod) || !km.Equal(c.keyMod)) {
		err = c.load()
	}
	if err != nil {
		c.log.Warn("reloading a certificate failed; serving the previous one", "for", c.what, "error", err)
	}
	return c.cert, nil
}
