package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/pause"
	"github.com/lanyard-dev/lanyard/internal/renew"
	"github.com/lanyard-dev/lanyard/server/ca"
)

// x509Signer signs the server's own SVID.
type x509Signer interface {
	SignX509SVID(ctx context.Context, p ca.X509SVIDParams) ([]*x509.Certificate, error)
}

// serverTLS holds the server's TLS identity (spiffe://TD/spire/server), renewed at half
// life, and verifies client SVIDs against the current trust bundle.
type serverTLS struct {
	id      spiffeid.ID
	signer  x509Signer
	ttl     time.Duration
	bundles *bundleSource
	log     *slog.Logger
	clock   clock.Clock // renewal waits on it; client SVIDs are verified at its time
	cert    atomic.Pointer[tls.Certificate]
}

func (s *serverTLS) rotate(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("server SVID key: %w", err)
	}
	chain, err := s.signer.SignX509SVID(ctx, ca.X509SVIDParams{ID: s.id, PublicKey: key.Public(), TTL: s.ttl})
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

// run renews the server SVID when half its lifetime has passed.
func (s *serverTLS) run(ctx context.Context) {
	for {
		leaf := s.cert.Load().Leaf
		wait := renew.HalfLife(leaf.NotBefore, leaf.NotAfter).Sub(s.clock.Now())
		if !pause.For(ctx, s.clock, max(wait, time.Second)) {
			return
		}
		if err := s.rotate(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("renewing server SVID failed; retrying in 5s", "error", err)
			if !pause.For(ctx, s.clock, 5*time.Second) {
				return
			}
		}
	}
}

func (s *serverTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
		// Agents attest without a certificate, so one is requested but not required; the
		// authorization interceptor decides per method what a certificate-less caller may do.
		ClientAuth:            tls.RequestClientCert,
		VerifyPeerCertificate: s.verifyClient,
		NextProtos:            []string{"h2"},
	}
}

func (s *serverTLS) verifyClient(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return nil
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("client certificate does not parse: %w", err)
		}
		certs = append(certs, c)
	}
	authorities := s.bundles.x509Authorities()
	if len(authorities) == 0 {
		return errors.New("no trust bundle loaded yet")
	}
	_, _, err := x509svid.Verify(certs, x509bundle.FromX509Authorities(s.id.TrustDomain(), authorities), x509svid.WithTime(s.clock.Now()))
	if err != nil {
		return fmt.Errorf("client X.509-SVID does not verify against the trust bundle: %w", err)
	}
	return nil
}
