package api

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// AgentStore is what authentication needs of the datastore.
type AgentStore interface {
	GetAgent(ctx context.Context, id string) (*datastore.Agent, error)
	UpdateAgent(ctx context.Context, agent *datastore.Agent, mask datastore.AgentMask, cond *datastore.AgentCondition) (*datastore.Agent, error)
}

// Authenticator identifies callers of the TCP endpoint from their TLS client certificate.
// The certificate chain itself was verified against the trust bundle during the handshake.
type Authenticator struct {
	TrustDomain spiffeid.TrustDomain
	Agents      AgentStore
	// IsAdminID reports whether an admin entry exists for the SPIFFE ID.
	IsAdminID func(id spiffeid.ID) bool
	// Now is the time against which agent SVIDs expire. Default time.Now.
	Now func() time.Time
	// AgentRowTTL is how long an agent's row, once read, answers that agent's later calls
	// presenting the same current SVID without reading the datastore again. A change made
	// on this server must be followed by Forget; one made by another server sharing the
	// datastore (a ban, an eviction) is seen after at most this long. 0: every call reads.
	AgentRowTTL time.Duration

	rows agentRows
}

func (a *Authenticator) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// Authenticate returns the caller of ctx's RPC.
func (a *Authenticator) Authenticate(ctx context.Context) (*Caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return &Caller{Kind: Anonymous}, nil
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.PeerCertificates) == 0 {
		return &Caller{Kind: Anonymous}, nil
	}
	leaf := tlsInfo.State.PeerCertificates[0]
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "client certificate is not an X.509-SVID: %v", err)
	}
	if now := a.now(); !now.Before(leaf.NotAfter) && !spireid.IsAgent(a.TrustDomain, id) {
		// The handshake checked expiry when the connection opened; calls on it keep coming.
		return nil, status.Errorf(codes.Unauthenticated, "client X.509-SVID %s expired at %s: get a new one", id, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if spireid.IsAgent(a.TrustDomain, id) {
		agent, err := a.checkAgent(ctx, id, leaf)
		if err != nil {
			return nil, err
		}
		return &Caller{Kind: AgentCaller, ID: id, Cert: leaf, Agent: agent}, nil
	}
	if a.IsAdminID != nil && a.IsAdminID(id) {
		return &Caller{Kind: Admin, ID: id, Cert: leaf}, nil
	}
	// A valid SVID that is neither an agent nor an admin: treat like any other anonymous caller.
	return &Caller{Kind: Anonymous, ID: id, Cert: leaf}, nil
}

// CheckAgentCert re-checks that an agent presenting leaf is still allowed in.
func (a *Authenticator) CheckAgentCert(ctx context.Context, id spiffeid.ID, leaf *x509.Certificate) (*datastore.Agent, error) {
	return a.checkAgent(ctx, id, leaf)
}

// checkAgent makes sure the SVID is unexpired, the agent's current one, and the agent is
// allowed in. The TLS handshake checked expiry only when the connection opened; this runs
// on every call and stream check (an SVID counts as expired from its NotAfter on). An SVID
// issued by RenewAgent becomes current on its first use on any connection, which retires
// the old one; until then the old one keeps working.
func (a *Authenticator) checkAgent(ctx context.Context, id spiffeid.ID, leaf *x509.Certificate) (*datastore.Agent, error) {
	now := a.now()
	expired := !now.Before(leaf.NotAfter)
	serial := leaf.SerialNumber.String()
	if a.AgentRowTTL > 0 && !expired {
		if agent := a.rows.get(id.String(), now, a.AgentRowTTL); agent != nil && !agent.Banned && serial == agent.SerialNumber {
			return agent, nil
		}
	}
	for attempt := 0; ; attempt++ {
		gen := a.rows.generation()
		agent, err := a.Agents.GetAgent(ctx, id.String())
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			return nil, PermissionDenied(types.PermissionDeniedDetails_AGENT_NOT_ATTESTED, "agent %s is not attested (evicted?): attest again", id)
		case err != nil:
			return nil, status.Errorf(codes.Internal, "looking up agent: %v", err)
		case agent.Banned:
			return nil, PermissionDenied(types.PermissionDeniedDetails_AGENT_BANNED, "agent %s is banned", id)
		case expired && serial == agent.SerialNumber && agent.NewSerialNumber != "" && now.Unix() < agent.NewExpiresAt:
			// The agent was renewed but still talks over a connection made with the old SVID.
			// No PermissionDenied reason: it must reconnect, not attest again.
			return nil, status.Errorf(codes.Unauthenticated, "agent %s: the SVID of this connection expired at %s; "+
				"connect again presenting the renewed SVID (serial %s)", id, leaf.NotAfter.UTC().Format(time.RFC3339), agent.NewSerialNumber)
		case expired:
			return nil, ExpiredAgentSVID(id, leaf.NotAfter)
		case serial == agent.SerialNumber:
			a.rows.put(agent, now, gen)
			return agent, nil
		case serial != agent.NewSerialNumber:
			return nil, PermissionDenied(types.PermissionDeniedDetails_AGENT_NOT_ACTIVE, "agent %s presented an SVID that is no longer active (serial %s)", id, serial)
		}
		activate := &datastore.Agent{ID: agent.ID, SerialNumber: agent.NewSerialNumber, ExpiresAt: agent.NewExpiresAt, UpdatedAt: now.Unix()}
		mask := datastore.AgentMask{SerialNumber: true, ExpiresAt: true, NewSerialNumber: true, NewExpiresAt: true}
		updated, err := a.Agents.UpdateAgent(ctx, activate, mask, datastore.ConditionOf(agent))
		switch {
		case errors.Is(err, datastore.ErrConflict) && attempt == 0:
			// Another connection activated it, or an administrator banned the agent: look again.
			continue
		case err != nil:
			return nil, Error("activating renewed agent SVID", err)
		}
		a.rows.put(updated, now, gen)
		return updated, nil
	}
}

// ExpiredAgentSVID is the error for an agent whose SVID expired at notAfter.
func ExpiredAgentSVID(id spiffeid.ID, notAfter time.Time) error {
	return PermissionDenied(types.PermissionDeniedDetails_AGENT_EXPIRED,
		"agent %s: its SVID expired at %s; renew it before it expires, or attest again", id, notAfter.UTC().Format(time.RFC3339))
}

// PermissionDenied builds a PermissionDenied status carrying SPIRE's reason details,
// which agents use to decide whether to re-attest.
func PermissionDenied(reason types.PermissionDeniedDetails_Reason, format string, args ...any) error {
	st := status.New(codes.PermissionDenied, fmt.Sprintf(format, args...))
	if withDetails, err := st.WithDetails(&types.PermissionDeniedDetails{Reason: reason}); err == nil {
		st = withDetails
	}
	return st.Err()
}
