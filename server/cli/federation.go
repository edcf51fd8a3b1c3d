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
func (f relationshipFlags) relationship(e *env) (*types.FederationRelationship, error) {
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

func federationCreate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("federation create")
	f := addRelationshipFlags(fs)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	rel, err := f.relationship(e)
	if err != nil {
		return err
	}
	return withClient(ctx, c, func(cl *client) error {
		resp, err := cl.trustDomains.BatchCreateFederationRelationship(ctx, &trustdomainv1.BatchCreateFederationRelationshipRequest{
			FederationRelationships: []*types.FederationRelationship{rel}})
		if err != nil {
			return rpcError("federation create "+rel.TrustDomain, err)
		}
		if len(resp.Results) != 1 {
			return fmt.Errorf("federation create: server answered %d results for 1 relationship", len(resp.Results))
		}
		return relationshipResult(e, c, "federation create", resp, resp.Results[0].Status, resp.Results[0].FederationRelationship)
	})
}

func federationUpdate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("federation update")
	f := addRelationshipFlags(fs)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	rel, err := f.relationship(e)
	if err != nil {
		return err
	}
	// The flags give the whole relationship; the bundle is replaced only when a file is given.
	mask := &types.FederationRelationshipMask{BundleEndpointUrl: true, BundleEndpointProfile: true, TrustDomainBundle: rel.TrustDomainBundle != nil}
	return withClient(ctx, c, func(cl *client) error {
		resp, err := cl.trustDomains.BatchUpdateFederationRelationship(ctx, &trustdomainv1.BatchUpdateFederationRelationshipRequest{
			FederationRelationships: []*types.FederationRelationship{rel}, InputMask: mask})
		if err != nil {
			return rpcError("federation update "+rel.TrustDomain, err)
		}
		if len(resp.Results) != 1 {
			return fmt.Errorf("federation update: server answered %d results for 1 relationship", len(resp.Results))
		}
		return relationshipResult(e, c, "federation update", resp, resp.Results[0].Status, resp.Results[0].FederationRelationship)
	})
}

// relationshipResult prints the outcome of a one-item create or update.
func relationshipResult(e *env, c *common, what string, resp proto.Message, st *types.Status, rel *types.FederationRelationship) error {
	if c.output == "json" {
		if err := printJSON(e, resp); err != nil {
			return err
		}
	}
	if itemFailed(st) {
		return fmt.Errorf("%s: %s", what, itemError(st))
	}
	if c.output != "json" {
		printRelationship(e.stdout, rel)
	}
	return nil
}

func federationList(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("federation list")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	return withClient(ctx, c, func(cl *client) error {
		var all []*types.FederationRelationship
		token := ""
		for {
			resp, err := cl.trustDomains.ListFederationRelationships(ctx, &trustdomainv1.ListFederationRelationshipsRequest{PageToken: token, PageSize: maxBatchSize})
			if err != nil {
				return rpcError("federation list", err)
			}
			all = append(all, resp.FederationRelationships...)
			if token = resp.NextPageToken; token == "" {
				break
			}
		}
		if c.output == "json" {
			return printJSON(e, &trustdomainv1.ListFederationRelationshipsResponse{FederationRelationships: all})
		}
		fmt.Fprintf(e.stdout, "Found %s\n", plural(len(all), "federation relationship", "federation relationships"))
		for _, r := range all {
			fmt.Fprintln(e.stdout)
			printRelationship(e.stdout, r)
		}
		return nil
	})
}

func federationShow(ctx context.Context, e *env, args []string) error {
	c, td, err := trustDomainCommand(e, "federation show", "trustDomain", "trust domain of the relationship to show (required)", args)
	if err != nil {
		return err
	}
	return withClient(ctx, c, func(cl *client) error {
		rel, err := cl.trustDomains.GetFederationRelationship(ctx, &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: td})
		if err != nil {
			return rpcError("federation show "+td, err)
		}
		if c.output == "json" {
			return printJSON(e, rel)
		}
		printRelationship(e.stdout, rel)
		return nil
	})
}

func federationDelete(ctx context.Context, e *env, args []string) error {
	c, td, err := trustDomainCommand(e, "federation delete", "id", "trust domain of the relationship to delete; its bundle is deleted with it (required)", args)
	if err != nil {
		return err
	}
	return withClient(ctx, c, func(cl *client) error {
		resp, err := cl.trustDomains.BatchDeleteFederationRelationship(ctx, &trustdomainv1.BatchDeleteFederationRelationshipRequest{TrustDomains: []string{td}})
		if err != nil {
			return rpcError("federation delete "+td, err)
		}
		if c.output == "json" {
			if err := printJSON(e, resp); err != nil {
				return err
			}
		}
		if len(resp.Results) != 1 {
			return fmt.Errorf("federation delete: server answered %d results for 1 relationship", len(resp.Results))
		}
		if st := resp.Results[0].Status; itemFailed(st) {
			return fmt.Errorf("federation delete: %s: %s", td, itemError(st))
		}
		if c.output != "json" {
			fmt.Fprintln(e.stdout, "Federation relationship deleted.")
		}
		return nil
	})
}

func federationRefresh(ctx context.Context, e *env, args []string) error {
	c, td, err := trustDomainCommand(e, "federation refresh", "id", "trust domain whose bundle to fetch now (required)", args)
	if err != nil {
		return err
	}
	return withClient(ctx, c, func(cl *client) error {
		if _, err := cl.trustDomains.RefreshBundle(ctx, &trustdomainv1.RefreshBundleRequest{TrustDomain: td}); err != nil {
			return rpcError("federation refresh "+td, err)
		}
		if c.output != "json" {
			fmt.Fprintln(e.stdout, "Bundle refreshed.")
		}
		return nil
	})
}

// trustDomainCommand parses the flags of a command that names one relationship.
func trustDomainCommand(e *env, name, flagName, usage string, args []string) (*common, string, error) {
	fs, c := newFlags(name)
	v := fs.String(flagName, "", usage)
	if err := parse(e, fs, c, args); err != nil {
		return nil, "", err
	}
	if *v == "" {
		return nil, "", fmt.Errorf("-%s is required: the trust domain of the relationship", flagName)
	}
	td, err := parseTrustDomain("-"+flagName, *v)
	return c, td, err
}

func withClient(ctx context.Context, c *common, fn func(*client) error) error {
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cl)
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
