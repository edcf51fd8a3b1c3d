package datastore

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors that callers branch on. Backends wrap them with %w.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the record changed or is referenced in a way that forbids the operation
	// (e.g. deleting a bundle that entries still federate with in DeleteRestrict mode).
	ErrConflict = errors.New("conflict")
)

// Store is everything lanyard-server persists.
//
// Contract for every implementation:
//   - Safe for concurrent use by many goroutines and, for shared backends, by several servers.
//   - Every method honours ctx cancellation.
//   - A batch method runs in one transaction: when it returns a nil error, every item whose
//     result has a nil Err is durably stored and every other item left nothing behind.
//     A non-nil error means nothing of the batch was stored.
//   - Returned values are copies; callers may modify them.
//   - Lookups that find nothing return an error wrapping ErrNotFound.
//   - Every entry create, update and delete appends an EntryEvent in the same transaction.
type Store interface {
	EntryStore
	AgentStore
	JoinTokenStore
	BundleStore
	CAJournalStore
	Close() error
}

// EntryStore keeps registration entries.
type EntryStore interface {
	// CreateEntries inserts entries. An entry whose ID is empty gets a fresh random ID; CreatedAt and
	// RevisionNumber (0) are set by the store. An entry with the same SPIFFE ID, parent ID and selector
	// set as an existing one yields ErrAlreadyExists with the existing entry. An entry that
	// federates with a trust domain having neither a bundle nor a federation relationship
	// yields ErrConflict (UpdateEntries too, when it changes FederatesWith).
	CreateEntries(ctx context.Context, entries []*Entry) ([]EntryResult, error)
	// UpdateEntries changes the masked fields of entries found by ID and increments their revision.
	UpdateEntries(ctx context.Context, entries []*Entry, mask EntryMask) ([]EntryResult, error)
	// DeleteEntries deletes by ID; the result for a missing ID has Err wrapping ErrNotFound.
	DeleteEntries(ctx context.Context, ids []string) ([]EntryResult, error)
	GetEntry(ctx context.Context, id string) (*Entry, error)
	// ListEntries returns entries ordered by ID and the token of the next page ("" when done).
	ListEntries(ctx context.Context, filter EntryFilter, page Page) ([]*Entry, string, error)
	CountEntries(ctx context.Context, filter EntryFilter) (int, error)
	// ListEntryEvents returns up to limit events with ID > afterID in ascending order.
	ListEntryEvents(ctx context.Context, afterID int64, limit int) ([]EntryEvent, error)
	// PruneEntryEvents deletes events recorded before the given time.
	PruneEntryEvents(ctx context.Context, before time.Time) error
}

// AgentStore keeps attested agents.
type AgentStore interface {
	// CreateAgent fails with ErrAlreadyExists if an agent with the ID exists.
	CreateAgent(ctx context.Context, agent *Agent) (*Agent, error)
	// UpdateAgent changes the masked fields of the stored agent with the same ID (ErrNotFound
	// if none) and returns the stored result. With a non-nil cond, it changes nothing and
	// returns ErrConflict unless the stored agent still satisfies cond: read-modify-write
	// callers pass what they read, so a ban or an activation made in between is never undone.
	UpdateAgent(ctx context.Context, agent *Agent, mask AgentMask, cond *AgentCondition) (*Agent, error)
	GetAgent(ctx context.Context, id string) (*Agent, error)
	ListAgents(ctx context.Context, filter AgentFilter, page Page) ([]*Agent, string, error)
	CountAgents(ctx context.Context, filter AgentFilter) (int, error)
	DeleteAgent(ctx context.Context, id string) error
}

// JoinTokenStore keeps join tokens.
type JoinTokenStore interface {
	CreateJoinToken(ctx context.Context, token *JoinToken) error
	// TakeJoinToken atomically reads and deletes a token so it can be used only once, even
	// by concurrent callers on several servers. It returns ErrNotFound for unknown tokens;
	// expiry is the caller's to check.
	TakeJoinToken(ctx context.Context, token string) (*JoinToken, error)
	PruneJoinTokens(ctx context.Context, expiredBefore time.Time) error
}

// BundleStore keeps trust bundles, ours and federated ones.
type BundleStore interface {
	// CreateBundle fails with ErrAlreadyExists if the trust domain has a bundle.
	CreateBundle(ctx context.Context, b *Bundle) (*Bundle, error)
	// UpdateBundle changes the masked fields (ErrNotFound if absent).
	UpdateBundle(ctx context.Context, b *Bundle, mask BundleMask) (*Bundle, error)
	// SetBundle creates or replaces.
	SetBundle(ctx context.Context, b *Bundle) (*Bundle, error)
	// AppendBundle atomically adds the X.509 and JWT authorities of b that the stored bundle
	// lacks (creating it if absent) and increments SequenceNumber when anything changed.
	AppendBundle(ctx context.Context, b *Bundle) (*Bundle, error)
	// PruneBundle atomically removes authorities that expired before the given time and
	// increments SequenceNumber when anything changed. It never removes the last X.509 authority.
	PruneBundle(ctx context.Context, trustDomain string, expiredBefore time.Time) (changed bool, err error)
	// TaintX509Authority atomically marks the X.509 authority whose certificate has this
	// subject key ID tainted and increments SequenceNumber: relying parties still trust it,
	// but agents replace what it signed. ErrNotFound when the bundle or the authority is
	// absent; ErrConflict when it is tainted already.
	TaintX509Authority(ctx context.Context, trustDomain string, subjectKeyID []byte) (*Bundle, error)
	// RevokeX509Authority atomically removes a tainted X.509 authority and increments
	// SequenceNumber. ErrNotFound when absent; ErrConflict when it is not tainted (taint
	// first, so that agents move off it before it stops verifying).
	RevokeX509Authority(ctx context.Context, trustDomain string, subjectKeyID []byte) (*Bundle, error)
	// TaintJWTKey and RevokeJWTKey do the same for the JWT authority with this key ID.
	TaintJWTKey(ctx context.Context, trustDomain, keyID string) (*Bundle, error)
	RevokeJWTKey(ctx context.Context, trustDomain, keyID string) (*Bundle, error)
	// TaintWITKey and RevokeWITKey do the same for the WIT authority with this key ID.
	TaintWITKey(ctx context.Context, trustDomain, keyID string) (*Bundle, error)
	RevokeWITKey(ctx context.Context, trustDomain, keyID string) (*Bundle, error)
	GetBundle(ctx context.Context, trustDomain string) (*Bundle, error)
	ListBundles(ctx context.Context, page Page) ([]*Bundle, string, error)
	CountBundles(ctx context.Context) (int, error)
	DeleteBundle(ctx context.Context, trustDomain string, mode DeleteMode) error
	// BundlesRevision returns a number that grows with every committed change to any
	// bundle (create, update, append, prune, taint, revoke, delete, a fetched federated
	// bundle, a relationship's deletion), whichever server made it. It is one cheap read:
	// a server polls it to learn that bundles changed without reading them. Equal values
	// mean no bundle changed in between; the numbers say nothing else.
	BundlesRevision(ctx context.Context) (int64, error)
}

// CAJournalStore keeps each server's opaque CA journal (its key slots and their certificates).
type CAJournalStore interface {
	// FetchCAJournal returns ErrNotFound when the server has none yet.
	FetchCAJournal(ctx context.Context, serverID string) ([]byte, error)
	SetCAJournal(ctx context.Context, serverID string, data []byte) error
}
