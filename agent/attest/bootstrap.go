package attest

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/agent/state"
)

// Config says how the agent proves its node and where it keeps its SVID.
type Config struct {
	// Agent is the agent's configuration: trust domain, node attestor, server addresses,
	// trust_bundle_path / insecure_bootstrap, data_dir.
	Agent config.Config
	// Clock decides whether the agent SVID expired and drives its renewal. Default the
	// real clock.
	Clock clock.WithTicker
	Log   *slog.Logger
	// DialOptions are added to every connection to the server (interceptors, for instance).
	DialOptions []grpc.DialOption
}

// Identity is the agent's proven identity: its SPIFFE ID, and the TLS identity (agent SVID
// and trust bundle) that its server connections present and verify with, saved in
// data_dir for restarts.
type Identity struct {
	ID    spiffeid.ID
	TLS   *client.Identity
	cfg   Config
	state state.Dir
}

// Bootstrap loads what the agent trusts (the saved bundle, else trust_bundle_path, else
// nothing under insecure_bootstrap) and its agent SVID: the saved one while it is valid,
// else a new one from node attestation, saved before it is used.
func Bootstrap(ctx context.Context, cfg Config) (*Identity, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	td := cfg.Agent.TD()
	id := &Identity{TLS: client.NewIdentity(td), cfg: cfg, state: state.Dir{Path: cfg.Agent.DataDir}}
	id.TLS.SetClock(cfg.Clock)
	b, err := id.state.LoadBundle(td)
	switch {
	case err == nil:
		id.TLS.SetBundle(b)
	case !errors.Is(err, state.ErrNone):
		return nil, err
	case cfg.Agent.TrustBundlePath != "":
		if b, err = state.LoadBundleFile(td, cfg.Agent.TrustBundlePath); err != nil {
			return nil, fmt.Errorf("trust_bundle_path: %w", err)
		}
		id.TLS.SetBundle(b)
	case cfg.Agent.InsecureBootstrap:
		cfg.Log.Warn("insecure_bootstrap: the server is not verified on the first connection")
		id.TLS.SetInsecureBootstrap(true)
	default:
		return nil, errors.New("no trust bundle: set trust_bundle_path to the server's CA (lanyard-server bundle show) or insecure_bootstrap: true")
	}

	chain, key, err := id.state.LoadSVID()
	if err == nil && cfg.Clock.Now().Before(chain[0].NotAfter) {
		return id, id.use(chain, key)
	}
	if err != nil && !errors.Is(err, state.ErrNone) {
		return nil, err
	}
	return id, id.attest(ctx)
}

// Dial connects to the server with this identity (see client.Dial).
func (id *Identity) Dial() (*client.Client, error) {
	return client.Dial(id.cfg.Agent.ServerAddrs(), id.TLS, id.cfg.DialOptions...)
}

// TrustBundle trusts a new bundle for server connections and saves it for restarts.
func (id *Identity) TrustBundle(b *spiffebundle.Bundle) {
	xb := b.X509Bundle()
	id.TLS.SetBundle(xb)
	if err := id.state.SaveBundle(xb); err != nil {
		id.cfg.Log.Warn("saving trust bundle", "error", err)
	}
}

// Forget deletes the saved agent SVID, which the server no longer accepts: without it the
// next start attests afresh.
func (id *Identity) Forget() error { return id.state.Clear() }

func (id *Identity) attest(ctx context.Context) error {
	prover, err := NodeProver(id.cfg.Agent)
	if err != nil {
		return err
	}
	c, err := id.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := Attest(actx, c.Agent, prover)
	if err != nil {
		return fmt.Errorf("node attestation failed: %w", err)
	}
	if id.TLS.Bundle() == nil {
		if err := id.fetchBootstrapBundle(actx, c, res.Chain); err != nil {
			return err
		}
	}
	if err := id.state.SaveSVID(res.Chain, res.Key); err != nil {
		return fmt.Errorf("saving agent SVID: %w", err)
	}
	id.cfg.Log.Info("node attested", "agent_id", res.ID.String())
	return id.use(res.Chain, res.Key)
}

// fetchBootstrapBundle trusts the server's bundle after an insecure first connection, as
// long as the SVID it just issued chains to it.
func (id *Identity) fetchBootstrapBundle(ctx context.Context, c *client.Client, chain []*x509.Certificate) error {
	pb, err := c.Bundle.GetBundle(ctx, nil)
	if err != nil {
		return fmt.Errorf("fetching trust bundle: %w", err)
	}
	var certs []*x509.Certificate
	for _, auth := range pb.X509Authorities {
		cert, err := x509.ParseCertificate(auth.Asn1)
		if err != nil {
			return fmt.Errorf("server bundle holds an unparsable certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	b := x509bundle.FromX509Authorities(id.TLS.TrustDomain(), certs)
	if _, _, err := x509svid.Verify(chain, b, x509svid.WithTime(id.cfg.Clock.Now())); err != nil {
		return fmt.Errorf("agent SVID does not verify against the server's bundle: %w", err)
	}
	id.TLS.SetBundle(b)
	id.TLS.SetInsecureBootstrap(false)
	return id.state.SaveBundle(b)
}

// use starts using the agent's first SVID of this run.
func (id *Identity) use(chain []*x509.Certificate, key crypto.Signer) error {
	sid, err := x509svid.IDFromCert(chain[0])
	if err != nil {
		return fmt.Errorf("agent SVID: %w", err)
	}
	if td := id.TLS.TrustDomain(); !sid.MemberOf(td) {
		return fmt.Errorf("agent SVID %s is not in trust domain %q", sid, td.Name())
	}
	id.ID = sid
	id.TLS.SetSVID(chain, key)
	return nil
}
