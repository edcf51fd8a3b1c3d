package cache

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
)

// Entry is a registration entry the agent is authorized for. The cache keeps the
// pointer it is given: an Entry must not be modified after it is handed over.
type Entry struct {
	ID             string
	SPIFFEID       string
	ParentID       string
	Selectors      []attestors.Selector
	FederatesWith  []string // trust domain names, "example.org" or "spiffe://example.org"
	Hint           string
	RevisionNumber int64
	X509SVIDTTL    int32
	JWTSVIDTTL     int32
	Admin          bool
	Downstream     bool
	DNSNames       []string
	ExpiresAt      int64
}

// X509SVID is an entry's X.509-SVID with its private key, kept only in the wire form the
// Workload API serves (parsed certificates and key objects would triple the memory of an
// agent holding thousands). Build it with NewX509SVID.
type X509SVID struct {
	EntryID string
	ID      spiffeid.ID
	Hint    string // the entry's hint when minted; the Workload API serves the entry's current one
	// Revision is the entry's RevisionNumber the SVID was minted for: when the entry
	// changes, the SVID is due for replacement (see Cache.Due).
	Revision     int64
	SerialNumber *big.Int
	NotBefore    time.Time
	ExpiresAt    time.Time // the leaf's NotAfter
	// Signers are the subject key IDs of the authorities that signed the chain's
	// certificates (each one's AuthorityKeyId, raw bytes as a string): an SVID is replaced
	// at once when the bundle marks one of them tainted.
	Signers []string

	// ChainDER is the chain's DER certificates concatenated; KeyDER is the PKCS#8 key.
	// KeyDER is secret: never log it.
	ChainDER []byte
	KeyDER   []byte
}

// NewX509SVID checks that the chain belongs to id and to key, and precomputes the wire form.
func NewX509SVID(entryID string, id spiffeid.ID, chain []*x509.Certificate, key crypto.Signer, hint string) (*X509SVID, error) {
	if len(chain) == 0 {
		return nil, errors.New("x509-svid: empty certificate chain")
	}
	if key == nil {
		return nil, errors.New("x509-svid: missing private key")
	}
	leaf := chain[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.String() {
		return nil, fmt.Errorf("x509-svid: leaf certificate does not name %s", id)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("x509-svid: private key does not match the leaf certificate")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("x509-svid: encoding private key: %w", err)
	}
	var chainDER bytes.Buffer
	signers := make([]string, 0, len(chain))
	for _, c := range chain {
		chainDER.Write(c.Raw)
		if len(c.AuthorityKeyId) > 0 {
			signers = append(signers, string(c.AuthorityKeyId))
		}
	}
	return &X509SVID{
		EntryID: entryID, ID: id, Hint: hint, SerialNumber: leaf.SerialNumber, Signers: signers,
		NotBefore: leaf.NotBefore, ExpiresAt: leaf.NotAfter, ChainDER: chainDER.Bytes(), KeyDER: keyDER,
	}, nil
}

// Bundle is a trust bundle with its Workload API wire forms prepared once.
type Bundle struct {
	TrustDomain spiffeid.TrustDomain
	// Bundle is the cache's own copy: do not modify it.
	Bundle *spiffebundle.Bundle
	// X509DER is the X.509 authorities' DER certificates concatenated.
	X509DER []byte
	// JWKS is the JWT authorities as an RFC 7517 JWK Set (no other key uses).
	JWKS []byte
	// WITJWKS is the WIT authorities as a JWK Set ("use": "wit-svid"), what
	// FetchWITBundles serves.
	WITJWKS []byte
}

func newBundle(b *spiffebundle.Bundle) (*Bundle, error) {
	var der bytes.Buffer
	for _, c := range b.X509Authorities() {
		der.Write(c.Raw)
	}
	jwks, err := b.JWTBundle().Marshal()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: encoding JWT authorities: %w", b.TrustDomain(), err)
	}
	witJWKS, err := b.WITBundle().Marshal()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: encoding WIT authorities: %w", b.TrustDomain(), err)
	}
	return &Bundle{TrustDomain: b.TrustDomain(), Bundle: b, X509DER: der.Bytes(), JWKS: jwks, WITJWKS: witJWKS}, nil
}

// Identity is one SVID a workload is entitled to.
type Identity struct {
	Entry *Entry
	SVID  *X509SVID
}

// WorkloadUpdate is everything the Workload API serves one workload.
type WorkloadUpdate struct {
	// Identities are sorted by SPIFFE ID, then entry ID; the first is the workload's
	// default SVID (go-spiffe's FetchX509SVID). When several entries carry the same
	// non-empty hint only the first is kept, as the Workload API requires unique hints.
	Identities []Identity
	// Bundle is the agent's own trust domain bundle; nil until the manager sets one.
	Bundle *Bundle
	// FederatedBundles holds the foreign bundles the matched entries federate with (and
	// that the agent has).
	FederatedBundles map[spiffeid.TrustDomain]*Bundle
	// WITs are the unexpired WIT-SVIDs of the matched entries, in the order and with the
	// hint rule of Identities (FetchWITSVID). An entry may have one kind of SVID and not
	// yet the other.
	WITs []WITIdentity
	// WITPending: a matched entry a workload has asked WIT-SVIDs of has none yet, and the
	// server issues them, so one is on its way (FetchWITSVID waits for it).
	WITPending bool
}

// same reports whether two updates would produce the same Workload API responses.
func (u *WorkloadUpdate) same(o *WorkloadUpdate) bool {
	return u.SameX509(o) && slices.Equal(u.WITs, o.WITs) && u.WITPending == o.WITPending
}

// SameX509 reports whether two updates hold the same X.509-SVIDs and bundles, so that a
// stream serving only those (FetchX509SVID) need not resend when only WIT-SVIDs changed.
func (u *WorkloadUpdate) SameX509(o *WorkloadUpdate) bool {
	if u.Bundle != o.Bundle || len(u.Identities) != len(o.Identities) || len(u.FederatedBundles) != len(o.FederatedBundles) {
		return false
	}
	for i, id := range u.Identities {
		if id != o.Identities[i] {
			return false
		}
	}
	for td, b := range u.FederatedBundles {
		if o.FederatedBundles[td] != b {
			return false
		}
	}
	return true
}
