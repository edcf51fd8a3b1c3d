package datastore

import "context"

// EndpointProfile is how a bundle endpoint authenticates itself (SPIFFE Federation §5).
type EndpointProfile string

const (
	// ProfileHTTPSWeb: the endpoint presents a Web PKI certificate for its host name.
	ProfileHTTPSWeb EndpointProfile = "https_web"
	// ProfileHTTPSSPIFFE: the endpoint presents an X.509-SVID with EndpointSPIFFEID,
	// verified against the stored bundle of that ID's trust domain.
	ProfileHTTPSSPIFFE EndpointProfile = "https_spiffe"
)

// FederationRelationship says where to fetch a foreign trust domain's bundle and how to
// authenticate the endpoint that serves it.
type FederationRelationship struct {
	TrustDomain       string // name only, e.g. "partner.org"
	BundleEndpointURL string // https://...
	Profile           EndpointProfile
	EndpointSPIFFEID  string // https_spiffe only: the endpoint's expected SPIFFE ID
	CreatedAt         int64  // unix seconds, set by the store
	UpdatedAt         int64  // unix seconds, set by the store
}

// FederationRelationshipMask says which fields an update touches. Profile covers
// EndpointSPIFFEID too: they change together.
type FederationRelationshipMask struct {
	BundleEndpointURL, Profile bool
}

// FederationStore keeps federation relationships. It is a separate capability: a Store
// that lacks it still works, and lanyard-server then answers the trustdomain API with
// Unimplemented. The concurrency, cancellation and copy rules of Store apply.
//
// A relationship owns the bundle of its trust domain as far as deletion goes: deleting the
// relationship deletes that bundle in the same transaction, so workloads stop trusting the
// partner at once. Entries keep their federates_with and get the bundle again if the
// relationship is re-created.
type FederationStore interface {
	// CreateFederationRelationship inserts r (ErrAlreadyExists if its trust domain has one).
	// A non-nil bundle is stored (created or replaced) for r's trust domain in the same
	// transaction.
	CreateFederationRelationship(ctx context.Context, r *FederationRelationship, bundle *Bundle) (*FederationRelationship, error)
	// UpdateFederationRelationship changes the masked fields (ErrNotFound if absent) and,
	// when bundle is non-nil, replaces the trust domain's bundle in the same transaction.
	UpdateFederationRelationship(ctx context.Context, r *FederationRelationship, mask FederationRelationshipMask, bundle *Bundle) (*FederationRelationship, error)
	GetFederationRelationship(ctx context.Context, trustDomain string) (*FederationRelationship, error)
	// ListFederationRelationships returns relationships ordered by trust domain.
	ListFederationRelationships(ctx context.Context, page Page) ([]*FederationRelationship, string, error)
	// DeleteFederationRelationship deletes the relationship and the trust domain's bundle
	// (ErrNotFound if there is no relationship). Entries are not changed.
	DeleteFederationRelationship(ctx context.Context, trustDomain string) error
	// StoreFetchedBundle stores a bundle fetched from a partner's endpoint, but only while a
	// relationship for its trust domain exists (ErrNotFound otherwise), so a fetch that
	// finishes after the relationship was deleted cannot bring the bundle back. When the
	// authorities or refresh hint differ from the stored bundle, the stored sequence number
	// becomes max(b.SequenceNumber, stored+1) and changed is true; otherwise nothing is
	// written.
	StoreFetchedBundle(ctx context.Context, b *Bundle) (changed bool, err error)
}
