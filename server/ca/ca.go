package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/keymanager"
)

// Store is what the CA needs of the datastore.
type Store interface {
	datastore.BundleStore
	datastore.CAJournalStore
}

// Config configures a CA. Zero values take the documented defaults.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	// ServerID keys this server's journal; servers sharing a datastore each have their own.
	ServerID    string
	KeyManager  keymanager.KeyManager
	Store       Store
	X509KeyType keymanager.KeyType // default ec-p256
	JWTKeyType  keymanager.KeyType // default ec-p256
	CATTL       time.Duration      // default 24h
	JWTKeyTTL   time.Duration      // default CATTL
	JWTIssuer   string             // "iss" of JWT-SVIDs; empty omits it
	WITKeyType  keymanager.KeyType // default JWTKeyType
	WITKeyTTL   time.Duration      // default JWTKeyTTL
	// WITIssuer is the "iss" of WIT-SVIDs; empty omits it. The WIT-SVID spec (3.7) says it
	// should not be a value OIDC discovery accepts, so a WIT-SVID never passes for an ID token.
	WITIssuer   string
	Subject     pkix.Name     // default O=Lanyard
	RefreshHint time.Duration // bundle refresh hint; default 5m
	// Clock drives rotation and the times in certificates and tokens. Default the real clock.
	Clock clock.WithTicker
	Log   *slog.Logger
	// RotateEvery is how often Run checks for rotation; default 10s.
	RotateEvery time.Duration
	// Upstream, when set, signs the CA certificates, and its roots are the bundle.
	Upstream *Upstream
}

// CA signs SVIDs with its active slots and rotates them.
type CA struct {
	cfg Config

	mu      sync.Mutex // guards the journal, retired and rotation
	journal *journal
	// retired are key IDs of expired slots dropped from the journal, deleted from the key
	// manager once the journal without them is saved.
	retired []string
	signing atomic.Pointer[signingState]
}

// New loads this server's journal or creates the first CA, JWT key and WIT key, and makes sure
// the bundle holds their public material.
func New(ctx context.Context, cfg Config) (*CA, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	c := &CA{cfg: cfg, journal: &journal{}}
	data, err := cfg.Store.FetchCAJournal(ctx, cfg.ServerID)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("loading CA journal: %w", err)
	default:
		j, err := decodeJournal(data)
		if err != nil {
			return nil, err
		}
		if err := c.loadKeys(ctx, j); err != nil {
			cfg.Log.Warn("CA journal names keys the key manager does not hold (memory key manager after a restart?); starting a new CA", "error", err)
		} else {
			c.journal = j
		}
	}
	if cfg.Upstream != nil {
		// Switching to an upstream CA: self-signed CAs stop signing at once (they stay in
		// the bundle until they expire, so SVIDs they signed keep verifying).
		for _, s := range c.journal.X509 {
			if s.Status != old && isSelfSigned(s.cert) {
				s.Status = old
			}
		}
	}
	if err := c.Rotate(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (cfg *Config) setDefaults() error {
	switch {
	case cfg.TrustDomain.IsZero():
		return errors.New("ca: trust domain is required")
	case cfg.KeyManager == nil || cfg.Store == nil:
		return errors.New("ca: key manager and store are required")
	case cfg.ServerID == "":
		return errors.New("ca: server ID is required")
	}
	if cfg.X509KeyType == "" {
		cfg.X509KeyType = keymanager.ECP256
	}
	if cfg.JWTKeyType == "" {
		cfg.JWTKeyType = keymanager.ECP256
	}
	if cfg.CATTL == 0 {
		cfg.CATTL = 24 * time.Hour
	}
	if cfg.JWTKeyTTL == 0 {
		cfg.JWTKeyTTL = cfg.CATTL
	}
	if cfg.WITKeyType == "" {
		cfg.WITKeyType = cfg.JWTKeyType
	}
	if cfg.WITKeyTTL == 0 {
		cfg.WITKeyTTL = cfg.JWTKeyTTL
	}
	if len(cfg.Subject.Organization) == 0 && cfg.Subject.CommonName == "" {
		cfg.Subject = pkix.Name{Organization: []string{"Lanyard"}}
	}
	if cfg.RefreshHint == 0 {
		cfg.RefreshHint = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = 10 * time.Second
	}
	return nil
}

// loadKeys gives each slot its key. An expired slot may have lost its key already (a
// journal restored from a backup older than a deletion); Rotate drops it.
func (c *CA) loadKeys(ctx context.Context, j *journal) error {
	now := c.cfg.Clock.Now()
	load := func(id string, expired bool) (crypto.Signer, error) {
		k, err := c.cfg.KeyManager.GetKey(ctx, id)
		if expired && errors.Is(err, keymanager.ErrNotFound) {
			return nil, nil
		}
		return k, err
	}
	for _, s := range j.X509 {
		k, err := load(s.KeyID, !now.Before(s.notAfter()))
		if err != nil {
			return err
		}
		s.signer = k
	}
	for _, s := range slices.Concat(j.JWT, j.WIT) {
		k, err := load(s.KeyID, !now.Before(s.NotAfter))
		if err != nil {
			return err
		}
		s.signer = k
	}
	return nil
}

// Run rotates until ctx ends.
func (c *CA) Run(ctx context.Context) error {
	t := c.cfg.Clock.NewTicker(c.cfg.RotateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if err := c.Rotate(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Log.Error("CA rotation failed; will retry", "error", err)
		}
	}
}

// X509Authorities returns this server's CA certificates that are prepared or active.
func (c *CA) X509Authorities() []*x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*x509.Certificate
	for _, s := range c.journal.X509 {
		if s.Status != old {
			out = append(out, s.cert)
		}
	}
	return out
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func randomID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func publicKeyDER(s crypto.Signer) ([]byte, error) {
	return x509.MarshalPKIXPublicKey(s.Public())
}
