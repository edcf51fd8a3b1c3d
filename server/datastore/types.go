package datastore

import (
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
)

// Entry is a registration entry. Field meanings follow spire-api-sdk's types.Entry.
type Entry struct {
	ID             string
	SPIFFEID       string // full spiffe:// URI
	ParentID       string // full spiffe:// URI
	Selectors      []attestors.Selector
	X509SVIDTTL    int32 // seconds; 0 means server default
	JWTSVIDTTL     int32 // seconds; 0 means server default
	FederatesWith  []string
	Admin          bool
	Downstream     bool
	ExpiresAt      int64 // unix seconds; 0 means never
	DNSNames       []string
	RevisionNumber int64
	StoreSVID      bool
	Hint           string
	CreatedAt      int64 // unix seconds
}

// EntryMask says which fields of an Entry an update touches.
type EntryMask struct {
	SPIFFEID, ParentID, Selectors, X509SVIDTTL, JWTSVIDTTL, FederatesWith bool
	Admin, Downstream, ExpiresAt, DNSNames, StoreSVID, Hint               bool
}

// AllEntryFields is the mask that updates every mutable field.
var AllEntryFields = EntryMask{true, true, true, true, true, true, true, true, true, true, true, true}

// MatchBehavior says how a selector filter is compared to an entry's or agent's selectors.
type MatchBehavior int

const (
	MatchExact    MatchBehavior = iota // the same set
	MatchSubset                        // the record's selectors are a subset of the filter's
	MatchSuperset                      // the record's selectors include all of the filter's
	MatchAny                           // the record shares at least one selector with the filter
)

// SelectorMatch filters by selectors.
type SelectorMatch struct {
	Selectors []attestors.Selector
	Match     MatchBehavior
}

// EntryFilter narrows ListEntries/CountEntries. Nil or empty fields do not filter.
type EntryFilter struct {
	BySPIFFEID      string
	ByParentID      string
	BySelectors     *SelectorMatch
	ByFederatesWith *FederatesWithMatch
	ByHint          *string
	ByDownstream    *bool
}

// FederatesWithMatch filters by federated trust domains, with the same behaviours as SelectorMatch.
type FederatesWithMatch struct {
	TrustDomains []string
	Match        MatchBehavior
}

// Page asks for one page of a listing. Size 0 means everything; Token "" means the first page.
type Page struct {
	Size  int
	Token string
}

// EntryResult is the outcome for one entry of a batch: Err is nil, ErrAlreadyExists
// (Entry is then the existing one), ErrNotFound, or a wrapped validation error.
type EntryResult struct {
	Entry *Entry
	Err   error
}

// EntryEvent records that an entry was created, updated or deleted. IDs increase
// monotonically; servers poll them to keep their in-memory entry caches current.
type EntryEvent struct {
	ID      int64
	EntryID string
}

// Agent is an attested node.
type Agent struct {
	ID                   string // spiffe://TD/spire/agent/...
	AttestationType      string
	SerialNumber         string // serial (decimal) of the current agent X.509-SVID
	ExpiresAt            int64  // unix seconds, expiry of the current agent SVID
	NewSerialNumber      string // serial of an SVID issued by RenewAgent but not yet used
	NewExpiresAt         int64
	Selectors            []attestors.Selector
	Banned               bool
	CanReattest          bool
	CreatedAt, UpdatedAt int64
	AgentVersion         string // as the agent last reported it (PostStatus); "" when never
}

// AgentMask says which fields of an Agent an update touches. UpdatedAt is always written
// (now when zero); ID and CreatedAt never change.
type AgentMask struct {
	AttestationType, SerialNumber, ExpiresAt, NewSerialNumber, NewExpiresAt bool
	Selectors, Banned, CanReattest, AgentVersion                            bool
}

// AllAgentFields is the mask that updates every mutable field.
var AllAgentFields = AgentMask{true, true, true, true, true, true, true, true, true}

// AgentCondition is what a read-modify-write of an agent depends on: the stored agent is
// not banned and holds exactly these serials.
type AgentCondition struct {
	SerialNumber, NewSerialNumber string
}

// ConditionOf returns the condition that a holds now.
func ConditionOf(a *Agent) *AgentCondition {
	return &AgentCondition{SerialNumber: a.SerialNumber, NewSerialNumber: a.NewSerialNumber}
}

// AgentFilter narrows ListAgents/CountAgents.
type AgentFilter struct {
	ByAttestationType string
	BySelectors       *SelectorMatch
	ByBanned          *bool
	ByCanReattest     *bool
	ByExpiresBefore   int64 // unix seconds; 0 does not filter
}

// JoinToken is a single-use node attestation secret.
type JoinToken struct {
	Token     string
	ExpiresAt time.Time
	AgentID   string // optional: an alias ID to register for the agent that uses it
}

// JWTKey is a JWT-SVID or WIT-SVID signing public key in a bundle.
type JWTKey struct {
	KeyID     string
	PublicKey []byte // PKIX DER
	ExpiresAt int64  // unix seconds
	Tainted   bool
}

// X509Authority is a CA certificate in a bundle.
type X509Authority struct {
	DER     []byte
	Tainted bool
}

// Bundle is the trust bundle of one trust domain (ours or a federated one).
type Bundle struct {
	TrustDomain     string // name only, e.g. "example.org"
	X509Authorities []X509Authority
	JWTAuthorities  []JWTKey
	// WITAuthorities sign WIT-SVIDs; published with "use": "wit-svid". Their key IDs are
	// distinct from the JWT authorities' (the WIT-SVID spec, section 6.1).
	WITAuthorities []JWTKey
	RefreshHint    int64 // seconds
	SequenceNumber uint64
}

// BundleMask says which fields of a Bundle an update touches.
type BundleMask struct {
	X509Authorities, JWTAuthorities, WITAuthorities, RefreshHint, SequenceNumber bool
}

// DeleteMode says what happens to entries that federate with a deleted bundle.
type DeleteMode int

const (
	DeleteRestrict   DeleteMode = iota // refuse while entries federate with it
	DeleteCascade                      // delete those entries too
	DeleteDissociate                   // remove the trust domain from those entries
)
