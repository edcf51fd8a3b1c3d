package servertest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/internal/svidverify"
)

// Peer is a caller of the TCP port holding an X.509-SVID (an agent, or an admin workload).
type Peer struct {
	ID    spiffeid.ID
	Chain []*x509.Certificate
	Key   crypto.Signer
	// Conn presents the SVID; it closes when the test ends.
	Conn *grpc.ClientConn
}

// AttestAgent attests a new agent with a fresh join token through AgentService.AttestAgent
// and returns it connected with its agent SVID.
func (s *Server) AttestAgent() *Peer {
	s.t.Helper()
	p, err := s.AttestWithToken(s.JoinToken(10 * time.Minute))
	if err != nil {
		s.t.Fatalf("attesting an agent: %v", err)
	}
	return p
}

// AttestWithToken attests with join token over a connection without a client certificate
// and returns the agent connected with its new SVID.
func (s *Server) AttestWithToken(token string) (*Peer, error) {
	s.t.Helper()
	res, err := attest.Attest(context.Background(), agentv1.NewAgentClient(s.Dial(nil, nil)), jointoken.Prover{Token: token})
	if err != nil {
		return nil, err
	}
	return &Peer{ID: res.ID, Chain: res.Chain, Key: res.Key, Conn: s.Dial(res.Chain, res.Key)}, nil
}

// AdminPeer registers an admin entry for spiffe://TD/path, mints an X.509-SVID for it
// through the admin socket and returns it connected over TLS: an administrator that is
// a workload rather than a local user.
func (s *Server) AdminPeer(path string) *Peer {
	s.t.Helper()
	admin := s.Entry(path, spireid.Server(s.TrustDomain), "unix:uid:0")
	admin.Admin = true
	s.CreateEntries(admin)
	return s.WorkloadPeer(path)
}

// WorkloadPeer mints an X.509-SVID for spiffe://TD/path through the admin API (MintX509SVID,
// with the server's default TTL) and returns it connected over TLS. Without an admin
// entry for the ID it is neither an agent nor an administrator.
func (s *Server) WorkloadPeer(path string) *Peer {
	s.t.Helper()
	id := spiffeid.RequireFromPath(s.TrustDomain, path)
	key, csr, err := attest.NewKeyAndCSR(id)
	if err != nil {
		s.t.Fatal(err)
	}
	minted, err := svidv1.NewSVIDClient(s.Admin).MintX509SVID(context.Background(), &svidv1.MintX509SVIDRequest{Csr: csr})
	if err != nil {
		s.t.Fatalf("minting an X.509-SVID for %s: %v", id, err)
	}
	chain, err := ParseChain(minted.Svid.CertChain)
	if err != nil {
		s.t.Fatal(err)
	}
	return &Peer{ID: id, Chain: chain, Key: key, Conn: s.Dial(chain, key)}
}

// Dial connects to the TCP port presenting chain and key (none when chain is nil). The
// server must present spiffe://TD/spire/server chaining to the current bundle, verified
// at the server clock's time. The connection closes when the test ends.
func (s *Server) Dial(chain []*x509.Certificate, key crypto.Signer) *grpc.ClientConn {
	s.t.Helper()
	bundle := s.Bundle()
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified against the SPIFFE bundle at the fake clock's time.
		InsecureSkipVerify:    true, //nolint:gosec // replaced by VerifyPeerCertificate
		VerifyPeerCertificate: svidverify.PeerCertificate(bundle, tlsconfig.AuthorizeID(spireid.Server(s.TrustDomain)), s.Clock),
	}
	if chain != nil {
		cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
		for _, c := range chain {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient("passthrough:///"+s.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// ParseChain parses DER certificates, leaf first.
func ParseChain(der [][]byte) ([]*x509.Certificate, error) {
	certs, err := x509.ParseCertificates(bytes.Join(der, nil))
	if err == nil && len(certs) == 0 {
		err = errors.New("no certificates")
	}
	return certs, err
}
