package api

import (
	"context"
	"crypto/x509"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// CallerKind says how a caller was authenticated.
type CallerKind int

const (
	// Anonymous callers reached the TCP endpoint without a client certificate.
	Anonymous CallerKind = iota
	// Local callers came through the admin unix socket.
	Local
	// Admin callers presented an X.509-SVID whose ID belongs to an admin entry.
	Admin
	// AgentCaller callers presented a current agent X.509-SVID of an attested, non-banned agent.
	AgentCaller
)

func (k CallerKind) String() string {
	switch k {
	case Local:
		return "local"
	case Admin:
		return "admin"
	case AgentCaller:
		return "agent"
	}
	return "anonymous"
}

// Caller is the authenticated identity of the peer of one RPC.
type Caller struct {
	Kind CallerKind
	// ID is the SPIFFE ID of the presented X.509-SVID (zero for Local and Anonymous).
	ID spiffeid.ID
	// Cert is the presented leaf certificate, if any.
	Cert *x509.Certificate
	// Agent is the stored record for AgentCaller callers.
	Agent *datastore.Agent
}

// IsAdmin reports whether the caller may use administrative methods.
func (c *Caller) IsAdmin() bool { return c.Kind == Local || c.Kind == Admin }

type callerKey struct{}

// WithCaller returns ctx carrying the caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller set by the authentication interceptor, or an anonymous one.
func CallerFrom(ctx context.Context) *Caller {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return c
	}
	return &Caller{Kind: Anonymous}
}
