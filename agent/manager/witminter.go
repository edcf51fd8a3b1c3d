package manager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// witAlgorithm is the algorithm of the workload keys the agent makes for WIT-SVIDs: ES256
// on P-256, allowed by the WIT-SVID spec (3.2) and the one every verifier supports.
const witAlgorithm = "ES256"

// witUnsupportedRetry is how long the minter leaves a server that does not implement
// BatchNewWITSVID alone before asking again (it may have been upgraded meanwhile).
const witUnsupportedRetry = 10 * time.Minute

// roundWIT mints the due WIT-SVIDs, as roundX509 does X.509-SVIDs. A server without
// WIT-SVIDs is not an error: workloads then get none, and X.509 minting goes on.
func (m *minter) roundWIT(ctx context.Context) error {
	now := m.clock.Now()
	if m.noWIT || now.Before(m.witUnsupportedUntil) {
		return nil
	}
	err := mintBurst(ctx, m, m.todo(m.store.DueWIT(now), m.witRefused, now), m.mintWIT, m.store.UpdateWITSVIDs)
	if status.Code(err) == codes.Unimplemented {
		m.store.SetWITMinting(false)
		m.witUnsupportedUntil = now.Add(witUnsupportedRetry)
		m.log.Info("the server does not issue WIT-SVIDs; workloads get none from this agent for now", "retry_in", witUnsupportedRetry.String())
		return nil
	}
	if err == nil {
		m.store.SetWITMinting(true)
	}
	return err
}

// mintWIT asks for one batch of WIT-SVIDs, each bound to a new key the agent makes; the
// private key stays in the agent until the Workload API hands it to the workload.
func (m *minter) mintWIT(ctx context.Context, batch []*cache.Entry) ([]*cache.WITSVID, error) {
	keys := make([]*ecdsa.PrivateKey, len(batch))
	req := &svidv1.BatchNewWITSVIDRequest{Params: make([]*svidv1.NewWITSVIDParams, len(batch))}
	for i, e := range batch {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating a WIT-SVID key: %w", err)
		}
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return nil, err
		}
		keys[i] = key
		req.Params[i] = &svidv1.NewWITSVIDParams{EntryId: e.ID, PublicKey: der, SigningAlgorithm: witAlgorithm}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := m.client()
	resp, err := c.SVID.BatchNewWITSVID(ctx, req)
	if err != nil && m.client() != c {
		return nil, fmt.Errorf("minting WIT-SVIDs on a replaced connection: %v", err)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(batch) {
		return nil, fmt.Errorf("server answered %d WIT-SVID results for %d requests", len(resp.Results), len(batch))
	}
	out := make([]*cache.WITSVID, 0, len(batch))
	for i, r := range resp.Results {
		e := batch[i]
		if r.Status == nil || codes.Code(r.Status.Code) != codes.OK || r.Svid == nil {
			m.refuseIn(m.witRefused, e, "server refused a WIT-SVID; asking again later", "code", codes.Code(r.Status.GetCode()).String(), "status", r.Status.GetMessage())
			continue
		}
		svid, err := toWITSVID(e, r.Svid, keys[i], m.clock.Now())
		if err != nil {
			m.refuseIn(m.witRefused, e, "server returned an unusable WIT-SVID; asking again later", "error", err)
			continue
		}
		out = append(out, svid)
		if m.store.TaintedWIT(svid) {
			m.refuseIn(m.witRefused, e, "server signed a WIT-SVID with a tainted key; asking again later")
			continue
		}
		m.accepted(m.witRefused, e)
	}
	return out, nil
}

// witClaims are the claims the agent checks before serving a WIT-SVID.
type witClaims struct {
	jwt.Claims
	Cnf struct {
		JWK *jose.JSONWebKey `json:"jwk"`
	} `json:"cnf"`
}

// toWITSVID checks that the token is a WIT-SVID for e bound to key (header typ and kid,
// sub, exp, cnf.jwk; the signature is the workload's relying parties' to check) and
// builds the cache's form with the private key as a JWK; now is when it arrived.
func toWITSVID(e *cache.Entry, pb *types.WITSVID, key *ecdsa.PrivateKey, now time.Time) (*cache.WITSVID, error) {
	tok, err := jwt.ParseSigned(pb.Token, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512})
	if err != nil {
		return nil, fmt.Errorf("not a signed JWT: %w", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "wit+jwt" || h.KeyID == "" {
		return nil, fmt.Errorf("header typ %q, kid %q; want wit+jwt and a kid", typ, h.KeyID)
	}
	var cl witClaims
	if err := tok.UnsafeClaimsWithoutVerification(&cl); err != nil {
		return nil, err
	}
	id, err := spiffeid.FromString(e.SPIFFEID)
	if err != nil {
		return nil, err
	}
	switch {
	case cl.Subject != id.String():
		return nil, fmt.Errorf("sub %q is not the entry's %s", cl.Subject, id)
	case cl.Expiry == nil:
		return nil, errors.New("no exp claim")
	case len(cl.Audience) > 0:
		return nil, errors.New("an aud claim, which a WIT-SVID must not have")
	case cl.Cnf.JWK == nil || !key.PublicKey.Equal(cl.Cnf.JWK.Key):
		return nil, errors.New("cnf.jwk is not the key the agent sent")
	}
	priv, err := jose.JSONWebKey{Key: key, Algorithm: witAlgorithm}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding the WIT-SVID key: %w", err)
	}
	// The renewal clock starts at issuance: the API's issued_at, else the iat claim (both
	// optional), else now, when the agent received it.
	issued := now
	switch {
	case pb.IssuedAt != 0:
		issued = time.Unix(pb.IssuedAt, 0)
	case cl.IssuedAt != nil:
		issued = cl.IssuedAt.Time()
	}
	return &cache.WITSVID{EntryID: e.ID, ID: id, Revision: e.RevisionNumber, IssuedAt: issued, ExpiresAt: cl.Expiry.Time(),
		Kid: h.KeyID, Token: pb.Token, KeyJWK: string(priv)}, nil
}
