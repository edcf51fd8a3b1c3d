// Package serversvid holds lanyard-server's own TLS identity, the X.509-SVID
// spiffe://TD/spire/server that agents and federation partners verify: signed by the
// server's CA at start, renewed at half life, and the TLS configuration that presents it
// and verifies agents' SVIDs.
package serversvid

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/pause"
	"github.com/lanyard-dev/lanyard/internal/renew"
	"github.com/lanyard-dev/lanyard/internal/svidverify"
	"github.com/lanyard-dev/lanyard/server/ca"
)

// Signer signs the server's SVID: the server's CA.
type Signer interface {
	SignX509SVID(ctx context.Context, p ca.X509SVIDParams) ([]*x509.Certificate, error)
}

// Config configures the server SVID.
type Config struct {
	ID     spiffeid.ID // spiffe://TD/spire/server
	Signer Signer
	TTL    time.Duration
	// Bundle is what client SVIDs must verify against.
	Bundle x509bundle.Source
	Log    *slog.Logger
	// Clock drives renewal, and client SVIDs are verified at its time (default the real clock).
	Clock clock.Clock
}

// SVID is the server's current SVID. It is safe for concurrent use.
type SVID struct {
	cfg  Config
	cert atomic.Pointer[tls.Certificate]
}

// New signs the first SVID.
func New(ctx context.Context, cfg Config) (*SVID, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &SVID{cfg: cfg}
	if err := s.Rotate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Current returns the SVID with its key, Leaf set.
func (s *SVID) Current() *tls.Certificate { return s.cert.Load() }

// Rotate signs a new SVID with a new key now; call it when the signing authority changed.
func (s *SVID) Rotate(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("server SVID key: %w", err)
	}
	chain, err := s.cfg.Signer.SignX509SVID(ctx, ca.X509SVIDParams{ID: s.cfg.ID, PublicKey: key.Public(), TTL: s.cfg.TTL})
	if err != nil {
		return fmt.Errorf("signing server SVID: %w", err)
	}
	cert := &tls.Certificate{PrivateKey: crypto.Signer(key), Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	s.cert.Store(cert)
	return nil
}

// Run renews the SVID when half its lifetime has passed, until ctx ends.
func (s *SVID) Run(ctx context.Context) error {
	for {
		leaf := s.cert.Load().Leaf
		wait := renew.HalfLife(leaf.NotBefore, leaf.NotAfter).Sub(s.cfg.Clock.Now())
		if !pause.For(ctx, s.cfg.Clock, max(wait, time.Second)) {
			return nil
		}
		if err := s.Rotate(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("renewing server SVID failed; retrying in 5s", "error", err)
			if !pause.For(ctx, s.cfg.Clock, 5*time.Second) {
				return nil
			}
		}
	}
}

// Expired says why the SVID is unusable (nil while it is valid), for readiness.
func (s *SVID) Expired() error {
	if leaf := s.cert.Load(); leaf == nil || s.cfg.Clock.Now().After(leaf.Leaf.NotAfter) {
		return fmt.Errorf("server SVID expired")
	}
	return nil
}

// TLSConfig presents the current SVID and verifies the client's SVID, if it sends one.
func (s *SVID) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
		// Agents attest without a certificate, so one is requested but not required; the
		// authorization interceptor decides per method what a certificate-less caller may do.
		ClientAuth:            tls.RequestClientCert,
		VerifyPeerCertificate: svidverify.Optional(svidverify.PeerCertificate(s.cfg.Bundle, tlsconfig.AuthorizeAny(), s.cfg.Clock)),
		NextProtos:            []string{"h2"},
	}
}
