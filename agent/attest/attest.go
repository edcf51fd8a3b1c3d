package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/attestors"
)

// Result is a freshly issued agent SVID.
type Result struct {
	Chain        []*x509.Certificate
	Key          crypto.Signer
	ID           spiffeid.ID
	Reattestable bool
}

// Attest proves the node's identity with prover and returns the agent SVID.
func Attest(ctx context.Context, c agentv1.AgentClient, prover attestors.NodeProver) (*Result, error) {
	if closer, ok := prover.(attestors.SessionCloser); ok {
		defer closer.Close()
	}
	payload, err := prover.Payload(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s evidence: %w", prover.Type(), err)
	}
	key, csr, err := NewKeyAndCSR(spiffeid.ID{})
	if err != nil {
		return nil, err
	}
	stream, err := c.AttestAgent(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening attestation: %w", err)
	}
	defer func() { _ = stream.CloseSend() }()
	err = stream.Send(&agentv1.AttestAgentRequest{Step: &agentv1.AttestAgentRequest_Params_{Params: &agentv1.AttestAgentRequest_Params{
		Data:   &types.AttestationData{Type: prover.Type(), Payload: payload},
		Params: &agentv1.AgentX509SVIDParams{Csr: csr},
	}}})
	if err != nil {
		return nil, fmt.Errorf("sending attestation: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("node attestation: %w", err)
		}
		if challenge := resp.GetChallenge(); challenge != nil {
			responder, ok := prover.(attestors.ChallengeResponder)
			if !ok {
				return nil, fmt.Errorf("server sent a challenge that the %s attestor cannot answer", prover.Type())
			}
			answer, err := responder.RespondChallenge(ctx, challenge)
			if err != nil {
				return nil, fmt.Errorf("answering %s challenge: %w", prover.Type(), err)
			}
			if err := stream.Send(&agentv1.AttestAgentRequest{Step: &agentv1.AttestAgentRequest_ChallengeResponse{ChallengeResponse: answer}}); err != nil {
				return nil, fmt.Errorf("sending challenge answer: %w", err)
			}
			continue
		}
		result := resp.GetResult()
		if result == nil {
			return nil, errors.New("node attestation: server sent neither challenge nor result")
		}
		chain, id, err := parseSVID(result.Svid, key)
		if err != nil {
			return nil, err
		}
		return &Result{Chain: chain, Key: key, ID: id, Reattestable: result.Reattestable}, nil
	}
}

// Renew asks the server for a new agent SVID for id.
func Renew(ctx context.Context, c agentv1.AgentClient, id spiffeid.ID) (*Result, error) {
	key, csr, err := NewKeyAndCSR(id)
	if err != nil {
		return nil, err
	}
	resp, err := c.RenewAgent(ctx, &agentv1.RenewAgentRequest{Params: &agentv1.AgentX509SVIDParams{Csr: csr}})
	if err != nil {
		return nil, fmt.Errorf("renewing agent SVID: %w", err)
	}
	chain, got, err := parseSVID(resp.Svid, key)
	if err != nil {
		return nil, err
	}
	if got != id {
		return nil, fmt.Errorf("renewed agent SVID is for %s, want %s", got, id)
	}
	return &Result{Chain: chain, Key: key, ID: got}, nil
}

// NewKeyAndCSR makes a P-256 key and a CSR for it, naming id as URI SAN unless id is zero.
func NewKeyAndCSR(id spiffeid.ID) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	tmpl := &x509.CertificateRequest{}
	if !id.IsZero() {
		tmpl.URIs = []*url.URL{id.URL()}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CSR: %w", err)
	}
	return key, csr, nil
}

func parseSVID(s *types.X509SVID, key crypto.Signer) ([]*x509.Certificate, spiffeid.ID, error) {
	if s == nil || len(s.CertChain) == 0 {
		return nil, spiffeid.ID{}, errors.New("server returned no SVID")
	}
	chain := make([]*x509.Certificate, len(s.CertChain))
	for i, der := range s.CertChain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, spiffeid.ID{}, fmt.Errorf("server returned an unparsable certificate: %w", err)
		}
		chain[i] = c
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, spiffeid.ID{}, errors.New("server returned an SVID for a different key")
	}
	if len(chain[0].URIs) != 1 {
		return nil, spiffeid.ID{}, errors.New("server returned an SVID without exactly one URI SAN")
	}
	id, err := spiffeid.FromURI(chain[0].URIs[0])
	if err != nil {
		return nil, spiffeid.ID{}, fmt.Errorf("server returned an SVID with an invalid SPIFFE ID: %w", err)
	}
	return chain, id, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
