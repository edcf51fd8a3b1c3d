package k8spsat

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Type is the attestation type name, as SPIRE spells it; it is also the type of the
// node selectors the server derives (k8s_psat:cluster:c1, ...).
const Type = "k8s_psat"

// DefaultTokenPath is where SPIRE's manifests mount the agent's projected token.
const DefaultTokenPath = "/var/run/secrets/tokens/spire-agent"

// DefaultAudience is the audience agents' tokens are issued for unless configured
// otherwise, on both halves.
const DefaultAudience = "spire-server"

// MaxPayloadSize bounds the evidence an agent may send. Service account tokens are a
// few KiB; the bound keeps a hostile client from making the server parse megabytes.
const MaxPayloadSize = 64 << 10

// Payload is the evidence, JSON-encoded as {"cluster": "...", "token": "..."} like
// SPIRE's k8s_psat, so either side can talk to SPIRE's other half.
type Payload struct {
	Cluster string `json:"cluster"`
	Token   string `json:"token"`
}

// ParsePayload decodes and checks evidence received from an agent.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if len(b) > MaxPayloadSize {
		return p, fmt.Errorf("k8s_psat payload is %d bytes, over the %d byte limit", len(b), MaxPayloadSize)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&p); err != nil {
		return p, fmt.Errorf("k8s_psat payload is not JSON {\"cluster\": ..., \"token\": ...}: %w", err)
	}
	switch {
	case p.Cluster == "":
		return p, errors.New("k8s_psat payload names no cluster: set the agent's k8s_psat cluster")
	case p.Token == "":
		return p, errors.New("k8s_psat payload carries no token")
	}
	return p, nil
}

// Prover is the agent half: it sends the projected service account token mounted in
// the agent's pod. The kubelet rotates that file, so it is read on every attestation.
type Prover struct {
	// Cluster names the cluster as configured on the server (any name both agree on).
	Cluster string
	// TokenPath is the projected token file; default DefaultTokenPath.
	TokenPath string
	// Audience must be among the token's audiences; default DefaultAudience. The
	// server decides what it accepts; checking here turns a mismatched projected
	// volume into a local error that names the file, instead of a remote refusal.
	Audience string
}

// Type implements attestors.NodeProver.
func (Prover) Type() string { return Type }

// Payload implements attestors.NodeProver.
func (p Prover) Payload(context.Context) ([]byte, error) {
	if p.Cluster == "" {
		return nil, errors.New("k8s_psat: cluster is not set: name the cluster the server knows this agent's tokens from")
	}
	path := p.TokenPath
	if path == "" {
		path = DefaultTokenPath
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("k8s_psat: reading service account token (mount a projected token volume there or set token_path): %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPayloadSize))
	if err != nil {
		return nil, fmt.Errorf("k8s_psat: reading service account token %s: %w", path, err)
	}
	if len(b) >= MaxPayloadSize {
		return nil, fmt.Errorf("k8s_psat: token file %s is too large to be a service account token", path)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return nil, fmt.Errorf("k8s_psat: service account token file %s is empty", path)
	}
	aud := p.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	auds, err := tokenAudiences(token)
	if err != nil {
		return nil, fmt.Errorf("k8s_psat: token file %s: %w", path, err)
	}
	if !slices.Contains(auds, aud) {
		return nil, fmt.Errorf("k8s_psat: token file %s is for audiences %q, not %q: set the projected volume's audience or the agent's k8s_psat audience", path, auds, aud)
	}
	out, err := json.Marshal(Payload{Cluster: p.Cluster, Token: token})
	if err != nil {
		return nil, fmt.Errorf("k8s_psat: %w", err)
	}
	if len(out) > MaxPayloadSize {
		return nil, fmt.Errorf("k8s_psat: token file %s and cluster name are too large to send", path)
	}
	return out, nil
}

// AgentID is the ID of an agent attested on the node with nodeUID in cluster:
// spiffe://<td>/spire/agent/k8s_psat/<cluster>/<node-uid>.
func AgentID(td spiffeid.TrustDomain, cluster, nodeUID string) (spiffeid.ID, error) {
	id, err := spiffeid.FromSegments(td, "spire", "agent", Type, cluster, nodeUID)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("k8s_psat: cluster %q and node UID %q do not form a SPIFFE ID: %w", cluster, nodeUID, err)
	}
	return id, nil
}

// tokenAudiences reads the aud claim of a JWT without verifying it: only the server
// can verify the token, this is a configuration check.
func tokenAudiences(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (want three dot-separated parts)")
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("not a JWT: claims: %w", err)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(body, &claims); err != nil {
		return nil, fmt.Errorf("not a JWT: claims: %w", err)
	}
	var one string
	if err := json.Unmarshal(claims.Aud, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(claims.Aud, &many); err != nil {
		return nil, errors.New("token has no aud claim")
	}
	return many, nil
}
