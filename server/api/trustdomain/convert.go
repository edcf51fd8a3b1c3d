package trustdomain

import (
	"context"
	"errors"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/federation"
)

// fromProto validates an API relationship and its optional bundle.
func (s *Service) fromProto(in *types.FederationRelationship) (*datastore.FederationRelationship, *datastore.Bundle, error) {
	if in == nil {
		return nil, nil, invalid("federation relationship is missing")
	}
	name, err := api.TrustDomainName(in.TrustDomain)
	if err != nil {
		return nil, nil, invalid("trust_domain: %v", err)
	}
	rel := &datastore.FederationRelationship{TrustDomain: name, BundleEndpointURL: in.BundleEndpointUrl}
	switch p := in.BundleEndpointProfile.(type) {
	case *types.FederationRelationship_HttpsWeb:
		rel.Profile = datastore.ProfileHTTPSWeb
	case *types.FederationRelationship_HttpsSpiffe:
		rel.Profile = datastore.ProfileHTTPSSPIFFE
		if p.HttpsSpiffe != nil {
			rel.EndpointSPIFFEID = p.HttpsSpiffe.EndpointSpiffeId
		}
	}
	if err := federation.CheckRelationship(rel, s.cfg.TrustDomain); err != nil {
		return nil, nil, invalid("%v", err)
	}
	var bundle *datastore.Bundle
	if in.TrustDomainBundle != nil {
		if bundle, err = api.BundleFromProto(in.TrustDomainBundle); err != nil {
			return nil, nil, err
		}
		if bundle.TrustDomain != name {
			return nil, nil, invalid("trust_domain_bundle is the bundle of %q; it must be the bundle of %q, the trust domain federated with",
				bundle.TrustDomain, name)
		}
		if len(bundle.X509Authorities) == 0 {
			return nil, nil, invalid("trust_domain_bundle of %s has no X.509 authorities", name)
		}
	}
	return rel, bundle, nil
}

func setProfile(out *types.FederationRelationship, r *datastore.FederationRelationship) {
	switch r.Profile {
	case datastore.ProfileHTTPSWeb:
		out.BundleEndpointProfile = &types.FederationRelationship_HttpsWeb{HttpsWeb: &types.HTTPSWebProfile{}}
	case datastore.ProfileHTTPSSPIFFE:
		out.BundleEndpointProfile = &types.FederationRelationship_HttpsSpiffe{
			HttpsSpiffe: &types.HTTPSSPIFFEProfile{EndpointSpiffeId: r.EndpointSPIFFEID}}
	}
}

// toProto converts a stored relationship, with the partner's current bundle when the mask
// asks for it (nil mask: everything).
func (s *Service) toProto(ctx context.Context, r *datastore.FederationRelationship, mask *types.FederationRelationshipMask) (*types.FederationRelationship, error) {
	all := mask == nil
	out := &types.FederationRelationship{TrustDomain: r.TrustDomain}
	if all || mask.BundleEndpointUrl {
		out.BundleEndpointUrl = r.BundleEndpointURL
	}
	if all || mask.BundleEndpointProfile {
		setProfile(out, r)
	}
	if all || mask.TrustDomainBundle {
		b, err := s.cfg.Store.GetBundle(ctx, r.TrustDomain)
		switch {
		case errors.Is(err, datastore.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out.TrustDomainBundle = api.BundleToProto(b, nil)
		}
	}
	return out, nil
}
