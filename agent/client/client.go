// Package client connects an agent to lanyard-server: TLS that verifies the server as
// spiffe://TD/spire/server against the agent's current trust bundle and presents the
// agent's current SVID, plus the API clients over that connection.
package client

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/internal/svidverify"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// Identity is what the agent presents and trusts; it changes on renewal and bundle updates.
type Identity struct {
	td     spiffeid.TrustDomain
	svid   atomic.Pointer[tls.Certificate]
	bundle atomic.Pointer[x509bundle.Bundle]
	// insecure accepts any server certificate while no bundle is known (bootstrap only).
	insecure atomic.Bool
	clock    clock.PassiveClock
}

// NewIdentity returns an identity for td with no SVID and no bundle yet, on the real clock.
func NewIdentity(td spiffeid.TrustDomain) *Identity {
	return &Identity{td: td, clock: clock.RealClock{}}
}

// SetClock sets the clock that decides whether the SVID has expired and at which time the
// server's certificate is verified; call it before Dial.
func (i *Identity) SetClock(c clock.PassiveClock) { i.clock = c }

// SetSVID sets the agent SVID presented on new connections.
func (i *Identity) SetSVID(chain []*x509.Certificate, key crypto.Signer) {
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	i.svid.Store(c)
}

// SVID returns the current agent SVID leaf, or nil.
func (i *Identity) SVID() *x509.Certificate {
	if c := i.svid.Load(); c != nil {
		return c.Leaf
	}
	return nil
}

// SVIDChain returns the current agent SVID chain (DER, leaf first), or nil.
func (i *Identity) SVIDChain() [][]byte {
	if c := i.svid.Load(); c != nil {
		return c.Certificate
	}
	return nil
}

// Certificate returns the current agent SVID as a TLS certificate, or nil: what the
// agent presents where it serves over mutual TLS (the Broker Endpoint).
func (i *Identity) Certificate() *tls.Certificate { return i.svid.Load() }

// SetBundle sets the authorities the server must chain to.
func (i *Identity) SetBundle(b *x509bundle.Bundle) { i.bundle.Store(b) }

// Bundle returns the current bundle, or nil.
func (i *Identity) Bundle() *x509bundle.Bundle { return i.bundle.Load() }

// SetInsecureBootstrap makes the agent accept an unverified server until a bundle is set.
func (i *Identity) SetInsecureBootstrap(v bool) { i.insecure.Store(v) }

// TrustDomain is the agent's trust domain.
func (i *Identity) TrustDomain() spiffeid.TrustDomain { return i.td }

func (i *Identity) tlsConfig() *tls.Config {
	authorize := tlsconfig.AuthorizeID(spireid.Server(i.td))
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done below against the SPIFFE bundle, not the system roots.
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyPeerCertificate
		// Read at every handshake, so new connections present the current SVID. An expired
		// one is not presented: the server would refuse the handshake, while without a
		// certificate the agent can still attest again.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := i.svid.Load(); c != nil && i.clock.Now().Before(c.Leaf.NotAfter) {
				return c, nil
			}
			return &tls.Certificate{}, nil
		},
		// Verified at the agent's clock's time (svidverify), against the bundle of the
		// moment; any server is accepted during an insecure bootstrap.
		VerifyPeerCertificate: func(raw [][]byte, verified [][]*x509.Certificate) error {
			b := i.bundle.Load()
			if b == nil {
				if i.insecure.Load() {
					return nil
				}
				return errors.New("no trust bundle to verify the server with (set trust_bundle_path or insecure_bootstrap)")
			}
			if err := svidverify.PeerCertificate(b, authorize, i.clock)(raw, verified); err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			return nil
		},
	}
}

// Client is a connection to the server with its API clients.
type Client struct {
	conn   *grpc.ClientConn
	Agent  agentv1.AgentClient
	Bundle bundlev1.BundleClient
	Entry  entryv1.EntryClient
	SVID   svidv1.SVIDClient
	Sync   syncv1.EntrySyncClient
}

// Dial connects lazily to one of addrs (host:port each), with any extra gRPC options
// (interceptors, for instance); the handshake uses the identity's state at that time. The first address that answers is used until its connection breaks,
// and then the next that answers, starting again from the first (gRPC's pick_first). A host
// name is resolved at every connection attempt and each of its addresses is tried in turn,
// so a DNS name with several records fails over the same way.
func Dial(addrs []string, id *Identity, extra ...grpc.DialOption) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("connecting to server: no server address")
	}
	target, opts := "passthrough:///"+addrs[0], []grpc.DialOption(nil)
	if len(addrs) > 1 {
		r := manual.NewBuilderWithScheme("lanyard-servers")
		state := resolver.State{}
		for _, a := range addrs {
			state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
		}
		r.InitialState(state)
		target, opts = r.Scheme()+":///servers", []grpc.DialOption{grpc.WithResolvers(r)}
	}
	conn, err := grpc.NewClient(target, append(append(opts,
		grpc.WithTransportCredentials(credentials.NewTLS(id.tlsConfig())),
		// gRPC's default reconnect backoff grows to 120s, so agents would find a restarted
		// server only minutes later; capped at 1s they are back within about a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			// Long enough to wait in a restarted server's handshake queue (it completes a
			// few at a time while thousands of agents reconnect) instead of giving up and
			// starting over at the back of it.
			MinConnectTimeout: 20 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to server %s: %w", strings.Join(addrs, ", "), err)
	}
	return &Client{
		conn: conn, Agent: agentv1.NewAgentClient(conn), Bundle: bundlev1.NewBundleClient(conn),
		Entry: entryv1.NewEntryClient(conn), SVID: svidv1.NewSVIDClient(conn), Sync: syncv1.NewEntrySyncClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
