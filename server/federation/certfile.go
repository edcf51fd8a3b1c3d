package federation

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certFiles is a certificate read from PEM files and read again when either file's
// modification time changes (e.g. after certbot renews it).
type certFiles struct {
	certFile, keyFile string

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
	lastCheck       time.Time
}

func newCertFiles(certFile, keyFile string) (*certFiles, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("cert_file and key_file are required for the https_web profile")
	}
	c := &certFiles{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certFiles) load() error {
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

func (c *certFiles) modTimes() (time.Time, time.Time, error) {
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

// get returns the current certificate, reloading it at most once a second when the files
// changed. A failed reload keeps serving the previous certificate.
func (c *certFiles) get(log *slog.Logger) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastCheck) < time.Second {
		return c.cert, nil
	}
	c.lastCheck = time.Now()
	cm, km, err := c.modTimes()
	if err == nil && (!cm.Equal(c.certMod) || !km.Equal(c.keyMod)) {
		err = c.load()
	}
	if err != nil {
		log.Warn("reloading the bundle endpoint certificate failed; serving the previous one", "error", err)
	}
	return c.cert, nil
}
