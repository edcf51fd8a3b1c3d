package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// MaxPayloadSize bounds attestation evidence and challenge answers.
const MaxPayloadSize = 64 << 10

// AttestAgent implements agentv1.AgentServer: the agent sends evidence and a CSR, the
// verifier for its attestation type may challenge it, and on success it gets its agent SVID.
func (s *Service) AttestAgent(stream agentv1.Agent_AttestAgentServer) error {
	ctx := stream.Context()
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	params := req.GetParams()
	switch {
	case params == nil:
		return api.Invalid("the first message must carry params (attestation data and CSR)")
	case params.Data == nil || params.Data.Type == "":
		return api.Invalid("params.data.type is required (e.g. join_token)")
	case len(params.Data.Payload) == 0:
		return api.Invalid("params.data.payload is required")
	case len(params.Data.Payload) > MaxPayloadSize:
		return api.Invalid("params.data.payload is %d bytes; at most %d allowed", len(params.Data.Payload), MaxPayloadSize)
	case params.Params == nil:
		return api.Invalid("params.params.csr is required")
	}
	verifier, ok := s.cfg.Verifiers[params.Data.Type]
	if !ok {
		return api.Invalid("attestation type %q is not enabled on this server", params.Data.Type)
	}
	csr, err := api.ParseCSR(params.Params.Csr, spiffeid.ID{})
	if err != nil {
		return api.Error("agent CSR", err)
	}
	challenge := func(ctx context.Context, c []byte) ([]byte, error) {
		if err := stream.Send(&agentv1.AttestAgentResponse{Step: &agentv1.AttestAgentResponse_Challenge{Challenge: c}}); err != nil {
			return nil, err
		}
		r, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if len(r.GetChallengeResponse()) == 0 || len(r.GetChallengeResponse()) > MaxPayloadSize {
			return nil, fmt.Errorf("%w: challenge response missing or too large", attestors.ErrRejected)
		}
		return r.GetChallengeResponse(), nil
	}
	att, err := verifier.Attest(ctx, params.Data.Payload, challenge)
	if err != nil {
		if errors.Is(err, attestors.ErrRejected) {
			s.cfg.Log.Warn("node attestation rejected", "type", params.Data.Type, "error", err)
			return status.Errorf(codes.PermissionDenied, "%s attestation failed: %v", params.Data.Type, err)
		}
		return status.Errorf(codes.Internal, "%s attestation: %v", params.Data.Type, err)
	}
	if !spireid.IsAgent(s.cfg.TrustDomain, att.AgentID) {
		return status.Errorf(codes.Internal, "attestor produced %s, which is not an agent ID of this trust domain", att.AgentID)
	}
	if len(csr.URIs) > 0 {
		if _, err := api.ParseCSR(params.Params.Csr, att.AgentID); err != nil {
			return api.Error("agent CSR", err)
		}
	}
	existing, err := s.cfg.Store.GetAgent(ctx, att.AgentID.String())
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		existing = nil
	case err != nil:
		return api.Error("looking up agent", err)
	case existing.Banned:
		return api.PermissionDenied(types.PermissionDeniedDetails_AGENT_BANNED, "agent %s is banned; delete it (agent evict) before it may attest again", att.AgentID)
	}
	chain, err := s.cfg.Signer.SignX509SVID(ctx, ca.X509SVIDParams{ID: att.AgentID, PublicKey: csr.PublicKey, TTL: s.cfg.AgentTTL})
	if err != nil {
		return api.Error("signing agent SVID", err)
	}
	if err := s.storeAttested(ctx, existing, att, params.Data.Type, chain[0]); err != nil {
		return err
	}
	s.cfg.Log.Info("agent attested", "agent_id", att.AgentID.String(), "type", params.Data.Type, "reattestation", existing != nil)
	s.cfg.OnChange(att.AgentID)
	return stream.Send(&agentv1.AttestAgentResponse{Step: &agentv1.AttestAgentResponse_Result_{Result: &agentv1.AttestAgentResponse_Result{
		Svid:         api.X509SVIDToProto(att.AgentID, chain, ""),
		Reattestable: att.CanReattest,
	}}})
}

func (s *Service) storeAttested(ctx context.Context, existing *datastore.Agent, att *attestors.NodeAttestation, typ string, leaf *x509.Certificate) error {
	sels := make([]attestors.Selector, len(att.Selectors))
	for i, sel := range att.Selectors {
		sels[i] = attestors.Selector{Type: sel.Type, Value: sel.Value}
	}
	// Every agent holds its own ID as a selector, so node aliases can name agents by ID
	// (the alias entries CreateJoinToken registers rely on this).
	sels = append(sels, attestors.Selector{Type: "spiffe_id", Value: att.AgentID.String()})
	now := s.cfg.Now().Unix()
	a := &datastore.Agent{
		ID: att.AgentID.String(), AttestationType: typ, SerialNumber: leaf.SerialNumber.String(),
		ExpiresAt: leaf.NotAfter.Unix(), Selectors: sels, CanReattest: att.CanReattest, CreatedAt: now, UpdatedAt: now,
	}
	var err error
	if existing == nil {
		_, err = s.cfg.Store.CreateAgent(ctx, a)
	} else {
		a.CreatedAt = existing.CreatedAt
		if existing.ExpiresAt > now && existing.SerialNumber != "" {
			// A re-attesting agent still holds connections made with its current SVID;
			// like a renewed one, the new SVID takes over on its first use.
			a.SerialNumber, a.ExpiresAt = existing.SerialNumber, existing.ExpiresAt
			a.NewSerialNumber, a.NewExpiresAt = leaf.SerialNumber.String(), leaf.NotAfter.Unix()
		}
		// Conditional on the record read before attesting: a ban in between wins.
		_, err = s.cfg.Store.UpdateAgent(ctx, a, datastore.AllAgentFields, datastore.ConditionOf(existing))
	}
	if errors.Is(err, datastore.ErrConflict) {
		return status.Errorf(codes.Aborted, "agent %s changed while it attested (banned, or attested elsewhere): %v; attest again", att.AgentID, err)
	}
	if err != nil {
		return api.Error("storing attested agent", err)
	}
	return nil
}

// RenewAgent implements agentv1.AgentServer. The new SVID becomes the agent's current one
// the first time the agent uses it; until then the old one keeps working.
func (s *Service) RenewAgent(ctx context.Context, req *agentv1.RenewAgentRequest) (*agentv1.RenewAgentResponse, error) {
	c := api.CallerFrom(ctx)
	if c.Kind != api.AgentCaller || c.Agent == nil {
		return nil, errNotAgent
	}
	if req.Params == nil {
		return nil, api.Invalid("params.csr is required")
	}
	csr, err := api.ParseCSR(req.Params.Csr, c.ID)
	if err != nil {
		return nil, api.Error("agent CSR", err)
	}
	chain, err := s.cfg.Signer.SignX509SVID(ctx, ca.X509SVIDParams{ID: c.ID, PublicKey: csr.PublicKey, TTL: s.cfg.AgentTTL})
	if err != nil {
		return nil, api.Error("signing agent SVID", err)
	}
	renewed := &datastore.Agent{ID: c.Agent.ID, NewSerialNumber: chain[0].SerialNumber.String(),
		NewExpiresAt: chain[0].NotAfter.Unix(), UpdatedAt: s.cfg.Now().Unix()}
	// Conditional on the record the caller was authenticated with, so a ban or another
	// activation since then is never overwritten.
	mask := datastore.AgentMask{NewSerialNumber: true, NewExpiresAt: true}
	_, err = s.cfg.Store.UpdateAgent(ctx, renewed, mask, datastore.ConditionOf(c.Agent))
	// Changed, or found changed elsewhere (a retry must read the record afresh).
	s.cfg.OnChange(c.ID)
	if err != nil {
		return nil, api.Error("storing renewed agent SVID", err)
	}
	return &agentv1.RenewAgentResponse{Svid: api.X509SVIDToProto(c.ID, chain, "")}, nil
}
