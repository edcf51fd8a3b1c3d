package federation

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// toSPIFFE converts a stored bundle to the form bundle endpoints serve.
func toSPIFFE(b *datastore.Bundle) (*spiffebundle.Bundle, error) {
	return bundleconv.ToSPIFFE(api.BundleToProto(b, nil))
}

// fromSPIFFE converts a fetched or loaded bundle to the stored form.
func fromSPIFFE(sb *spiffebundle.Bundle) (*datastore.Bundle, error) {
	pb, err := bundleconv.FromSPIFFE(sb)
	if err != nil {
		return nil, err
	}
	return api.BundleFromProto(pb)
}

// LoadBundleFile reads a trust bundle for td from path: a SPIFFE bundle document (what
// `lanyard-server bundle show -format spiffe` prints) or PEM CA certificates.
func LoadBundleFile(td spiffeid.TrustDomain, path string) (*datastore.Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading bundle file: %w", err)
	}
	sb, jsonErr := spiffebundle.Parse(td, data)
	if jsonErr != nil {
		xb, pemErr := x509bundle.Parse(td, data)
		if pemErr != nil {
			return nil, fmt.Errorf("%s is neither a SPIFFE bundle document (%v) nor PEM certificates (%v)", path, jsonErr, pemErr)
		}
		sb = spiffebundle.FromX509Bundle(xb)
	}
	if len(sb.X509Authorities()) == 0 {
		return nil, fmt.Errorf("%s holds no X.509 authorities", path)
	}
	return fromSPIFFE(sb)
}

// storeX509Source serves the stored bundles as an x509bundle.Source, to authenticate
// https_spiffe endpoints.
type storeX509Source struct {
	ctx   context.Context
	store bundleGetter
}

type bundleGetter interface {
	GetBundle(ctx context.Context, trustDomain string) (*datastore.Bundle, error)
}

func (s storeX509Source) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	b, err := s.store.GetBundle(s.ctx, td.Name())
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("no bundle of %s is stored to authenticate its bundle endpoint: "+
			"give one with the relationship (trust_domain_bundle, or the config's trust_bundle_path) or set it with `bundle set`", td)
	}
	if err != nil {
		return nil, err
	}
	sb, err := toSPIFFE(b)
	if err != nil {
		return nil, err
	}
	return sb.X509Bundle(), nil
}
