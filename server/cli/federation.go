package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// relationshipFlags are the flags of federation create and update, named as in SPIRE.
type relationshipFlags struct {
	trustDomain, url, profile, endpointID, bundlePath, bundleFormat *string
}

func addRelationshipFlags(fs *flag.FlagSet) relationshipFlags {
	return relationshipFlags{
		trustDomain:  fs.String("trustDomain", "", "trust domain to federate with, e.g. partner.org (required)"),
		url:          fs.String("bundleEndpointURL", "", "https:// URL of the partner's bundle endpoint (required)"),
		profile:      fs.String("bundleEndpointProfile", "https_spiffe", "https_spiffe (endpoint presents an SVID) or https_web (Web PKI certificate)"),
		endpointID:   fs.String("endpointSpiffeID", "", "SPIFFE ID the endpoint presents (https_spiffe), e.g. spiffe://partner.org/spire/server"),
		bundlePath:   fs.String("trustDomainBundlePath", "", "file with the partner's bundle to start from (https_spiffe needs one to authenticate the first fetch)"),
		bundleFormat: fs.String("trustDomainBundleFormat", formatPEM, "format of -trustDomainBundlePath: pem or spiffe"),
	}
}

// relationship builds the API relationship from the flags.
func (f relationshipFlags) relationship(e *command.Env) (*types.FederationRelationship, error) {
	if *f.trustDomain == "" {
		return nil, errors.New("-trustDomain is required: the trust domain to federate with")
	}
	td, err := parseTrustDomain("-trustDomain", *f.trustDomain)
	if err != nil {
		return nil, err
	}
	if *f.url == "" {
		return nil, errors.New("-bundleEndpointURL is required, e.g. https://" + td + ":8443")
	}
	rel := &types.FederationRelationship{TrustDomain: td, BundleEndpointUrl: *f.url}
	switch *f.profile {
	case "https_spiffe":
		if *f.endpointID == "" {
			return nil, fmt.Errorf("-endpointSpiffeID is required with -bundleEndpointProfile https_spiffe, e.g. spiffe://%s/spire/server", td)
		}
		if _, err := parseID("-endpointSpiffeID", *f.endpointID); err != nil {
			return nil, err
		}
		rel.BundleEndpointProfile = &types.FederationRelationship_HttpsSpiffe{HttpsSpiffe: &types.HTTPSSPIFFEProfile{EndpointSpiffeId: *f.endpointID}}
	case "https_web":
		if *f.endpointID != "" {
			return nil, errors.New("-endpointSpiffeID is only for -bundleEndpointProfile https_spiffe")
		}
		rel.BundleEndpointProfile = &types.FederationRelationship_HttpsWeb{HttpsWeb: &types.HTTPSWebProfile{}}
	default:
		return nil, fmt.Errorf("-bundleEndpointProfile must be https_spiffe or https_web, not %q", *f.profile)
	}
	if *f.bundlePath != "" {
		if err := checkFormat(*f.bundleFormat); err != nil {
			return nil, fmt.Errorf("-trustDomainBundleFormat: %w", err)
		}
		data, err := readInput(e, "-trustDomainBundlePath", *f.bundlePath)
		if err != nil {
			return nil, err
		}
		if rel.TrustDomainBundle, err = decodeBundle(td, data, *f.bundleFormat); err != nil {
			return nil, fmt.Errorf("-trustDomainBundlePath %s: %w", describeSource(*f.bundlePath), err)
		}
	}
	return rel, nil
}

// relationshipWrite is federation create and update: one relationship from the flags,
// one batch call (rpc, returning the answer and its results), and the relationship the
// server answers.
func relationshipWrite[T proto.Message, R interface {
	GetStatus() *types.Status
	GetFederationRelationship() *types.FederationRelationship
}](fs *flag.FlagSet, what string, rpc func(context.Context, *client, *types.FederationRelationship) (T, []R, error)) call {
	f := addRelationshipFlags(fs)
	var rel *types.FederationRelationship
	return call{
		Check: func(e *command.Env) (err error) {
			rel, err = f.relationship(e)
			return err
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			resp, results, err := rpc(ctx, cl, rel)
			if err != nil {
				return nil, rpcError(what+" "+rel.TrustDomain, err)
			}
			return oneResult(what, "relationship", "", resp, results, func(w io.Writer) { printRelationship(w, results[0].GetFederationRelationship()) })
		},
	}
}

func federationCreate(fs *flag.FlagSet) call {
	return relationshipWrite(fs, "federation create", func(ctx context.Context, cl *client, rel *types.FederationRelationship) (
		*trustdomainv1.BatchCreateFederationRelationshipResponse, []*trustdomainv1.BatchCreateFederationRelationshipResponse_Result, error) {
		resp, err := cl.trustDomains.BatchCreateFederationRelationship(ctx, &trustdomainv1.BatchCreateFederationRelationshipRequest{
			FederationRelationships: []*types.FederationRelationship{rel}})
		return resp, resp.GetResults(), err
	})
}

func federationUpdate(fs *flag.FlagSet) call {
	return relationshipWrite(fs, "federation update", func(ctx context.Context, cl *client, rel *types.FederationRelationship) (
		*trustdomainv1.BatchUpdateFederationRelationshipResponse, []*trustdomainv1.BatchUpdateFederationRelationshipResponse_Result, error) {
		// The flags give the whole relationship; the bundle is replaced only when a file is given.
		mask := &types.FederationRelationshipMask{BundleEndpointUrl: true, BundleEndpointProfile: true, TrustDomainBundle: rel.TrustDomainBundle != nil}
		resp, err := cl.trustDomains.BatchUpdateFederationRelationship(ctx, &trustdomainv1.BatchUpdateFederationRelationshipRequest{
			FederationRelationships: []*types.FederationRelationship{rel}, InputMask: mask})
		return resp, resp.GetResults(), err
	})
}

func federationList(*flag.FlagSet) call {
	return call{Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
		req := &trustdomainv1.ListFederationRelationshipsRequest{PageSize: listPageSize}
		all, err := listAll("federation list", &req.PageToken, func() ([]*types.FederationRelationship, string, error) {
			resp, err := cl.trustDomains.ListFederationRelationships(ctx, req)
			return resp.GetFederationRelationships(), resp.GetNextPageToken(), err
		})
		if err != nil {
			return nil, err
		}
		return command.Print(&trustdomainv1.ListFederationRelationshipsResponse{FederationRelationships: all}, func(w io.Writer) {
			fmt.Fprintf(w, "Found %s\n", plural(len(all), "federation relationship", "federation relationships"))
			for _, r := range all {
				fmt.Fprintln(w)
				printRelationship(w, r)
			}
		}), nil
	}}
}

// byTrustDomain is a command that names one relationship with flagName (required).
func byTrustDomain(fs *flag.FlagSet, flagName, usage string, do func(ctx context.Context, cl *client, td string) (*command.Output, error)) call {
	v := fs.String(flagName, "", usage)
	var td string
	return call{
		Check: func(*command.Env) (err error) {
			if *v == "" {
				return fmt.Errorf("-%s is required: the trust domain of the relationship", flagName)
			}
			td, err = parseTrustDomain("-"+flagName, *v)
			return err
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) { return do(ctx, cl, td) },
	}
}

func federationShow(fs *flag.FlagSet) call {
	return byTrustDomain(fs, "trustDomain", "trust domain of the relationship to show (required)", func(ctx context.Context, cl *client, td string) (*command.Output, error) {
		rel, err := cl.trustDomains.GetFederationRelationship(ctx, &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: td})
		if err != nil {
			return nil, rpcError("federation show "+td, err)
		}
		return command.Print(rel, func(w io.Writer) { printRelationship(w, rel) }), nil
	})
}

func federationDelete(fs *flag.FlagSet) call {
	return byTrustDomain(fs, "id", "trust domain of the relationship to delete; its bundle is deleted with it (required)", func(ctx context.Context, cl *client, td string) (*command.Output, error) {
		resp, err := cl.trustDomains.BatchDeleteFederationRelationship(ctx, &trustdomainv1.BatchDeleteFederationRelationshipRequest{TrustDomains: []string{td}})
		if err != nil {
			return nil, rpcError("federation delete "+td, err)
		}
		return oneResult("federation delete", "relationship", td, resp, resp.Results, func(w io.Writer) {
			fmt.Fprintln(w, "Federation relationship deleted.")
		})
	})
}

func federationRefresh(fs *flag.FlagSet) call {
	return byTrustDomain(fs, "id", "trust domain whose bundle to fetch now (required)", func(ctx context.Context, cl *client, td string) (*command.Output, error) {
		resp, err := cl.trustDomains.RefreshBundle(ctx, &trustdomainv1.RefreshBundleRequest{TrustDomain: td})
		if err != nil {
			return nil, rpcError("federation refresh "+td, err)
		}
		return command.Print(resp, func(w io.Writer) { fmt.Fprintln(w, "Bundle refreshed.") }), nil
	})
}

func printRelationship(w io.Writer, r *types.FederationRelationship) {
	if r == nil {
		return
	}
	field(w, "Trust domain", r.TrustDomain)
	field(w, "Endpoint URL", r.BundleEndpointUrl)
	switch p := r.BundleEndpointProfile.(type) {
	case *types.FederationRelationship_HttpsWeb:
		field(w, "Endpoint profile", "https_web")
	case *types.FederationRelationship_HttpsSpiffe:
		field(w, "Endpoint profile", "https_spiffe")
		field(w, "Endpoint SPIFFE ID", p.HttpsSpiffe.GetEndpointSpiffeId())
	}
	if b := r.TrustDomainBundle; b != nil {
		field(w, "Bundle", fmt.Sprintf("%d X.509 and %d JWT authorities, sequence %s",
			len(b.X509Authorities), len(b.JwtAuthorities), strconv.FormatUint(b.SequenceNumber, 10)))
	} else {
		field(w, "Bundle", "not fetched yet")
	}
}
