package federation

import (
	"fmt"
	"net/url"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// CheckRelationship reports what is wrong with a relationship, in words that name the
// field and the fix, for the API and the configuration alike. own is this server's trust
// domain, which cannot federate with itself.
func CheckRelationship(r *datastore.FederationRelationship, own spiffeid.TrustDomain) error {
	td, err := spiffeid.TrustDomainFromString(r.TrustDomain)
	if err != nil {
		return fmt.Errorf("trust_domain %q is not a trust domain name: %v", r.TrustDomain, err)
	}
	if td == own {
		return fmt.Errorf("trust_domain %q is this server's own trust domain; federate with another one", r.TrustDomain)
	}
	u, err := url.Parse(r.BundleEndpointURL)
	switch {
	case r.BundleEndpointURL == "":
		return fmt.Errorf("bundle_endpoint_url is required, e.g. https://%s:8443", td.Name())
	case err != nil:
		return fmt.Errorf("bundle_endpoint_url %q: %v", r.BundleEndpointURL, err)
	case u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("bundle_endpoint_url %q must be an https:// URL with a host (SPIFFE Federation requires TLS)", r.BundleEndpointURL)
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("bundle_endpoint_url %q must not contain user info or a fragment", r.BundleEndpointURL)
	}
	switch r.Profile {
	case datastore.ProfileHTTPSWeb:
		if r.EndpointSPIFFEID != "" {
			return fmt.Errorf("endpoint_spiffe_id is only for the https_spiffe profile; remove it or use https_spiffe")
		}
	case datastore.ProfileHTTPSSPIFFE:
		if r.EndpointSPIFFEID == "" {
			return fmt.Errorf("endpoint_spiffe_id is required for the https_spiffe profile, e.g. spiffe://%s/spire/server", td.Name())
		}
		if _, err := spiffeid.FromString(r.EndpointSPIFFEID); err != nil {
			return fmt.Errorf("endpoint_spiffe_id %q is not a SPIFFE ID: %v", r.EndpointSPIFFEID, err)
		}
	case "":
		return fmt.Errorf("the bundle endpoint profile is required: https_web or https_spiffe")
	default:
		return fmt.Errorf("profile %q: use https_web or https_spiffe", r.Profile)
	}
	return nil
}
