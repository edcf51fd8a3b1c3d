package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

func bundleShow(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("bundle show")
	format := fs.String("format", formatPEM, "pem (X.509 authorities) or spiffe (JWKS with X.509 and JWT authorities)")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	b, err := cl.bundles.GetBundle(ctx, &bundlev1.GetBundleRequest{})
	if err != nil {
		return rpcError("bundle show", err)
	}
	if c.output == "json" {
		return printJSON(e, b)
	}
	out, err := encodeBundle(b, *format)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

func bundleList(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("bundle list")
	id := fs.String("id", "", "trust domain of the one federated bundle to show (default: all)")
	format := fs.String("format", formatPEM, "pem (X.509 authorities) or spiffe (JWKS with X.509 and JWT authorities)")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	var td string
	if *id != "" {
		var err error
		if td, err = parseTrustDomain("-id", *id); err != nil {
			return err
		}
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()

	if td != "" {
		b, err := cl.bundles.GetFederatedBundle(ctx, &bundlev1.GetFederatedBundleRequest{TrustDomain: td})
		if err != nil {
			return rpcError("bundle list "+td, err)
		}
		if c.output == "json" {
			return printJSON(e, b)
		}
		// A single bundle is printed bare so the output can be saved as a bundle file.
		out, err := encodeBundle(b, *format)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}

	var bundles []*types.Bundle
	req := &bundlev1.ListFederatedBundlesRequest{PageSize: listPageSize}
	for {
		resp, err := cl.bundles.ListFederatedBundles(ctx, req)
		if err != nil {
			return rpcError("bundle list", err)
		}
		bundles = append(bundles, resp.Bundles...)
		if resp.NextPageToken == "" {
			break
		}
		if resp.NextPageToken == req.PageToken {
			return errors.New("bundle list: server returned the same page token twice")
		}
		req.PageToken = resp.NextPageToken
	}
	if c.output == "json" {
		return printJSON(e, &bundlev1.ListFederatedBundlesResponse{Bundles: bundles})
	}
	for i, b := range bundles {
		out, err := encodeBundle(b, *format)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		// PEM readers skip text outside blocks, so the header does not spoil the output.
		fmt.Fprintf(e.stdout, "# trust domain: %s\n", b.TrustDomain)
		if _, err := e.stdout.Write(out); err != nil {
			return err
		}
	}
	return nil
}

func bundleSet(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("bundle set")
	id := fs.String("id", "", "trust domain of the federated bundle, e.g. example.org (required)")
	path := fs.String("path", "", "file with the bundle data (default: standard input)")
	format := fs.String("format", formatPEM, "format of the data: pem (X.509 authorities) or spiffe (JWKS)")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("-id is required: the trust domain the bundle belongs to")
	}
	td, err := parseTrustDomain("-id", *id)
	if err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	source := *path
	if source == "" {
		source = "-"
	}
	data, err := readInput(e, "-path", source)
	if err != nil {
		return err
	}
	b, err := decodeBundle(td, data, *format)
	if err != nil {
		return fmt.Errorf("bundle set: -path %s: %w", describeSource(source), err)
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.bundles.BatchSetFederatedBundle(ctx, &bundlev1.BatchSetFederatedBundleRequest{Bundle: []*types.Bundle{b}})
	if err != nil {
		return rpcError("bundle set "+td, err)
	}
	if c.output == "json" {
		if err := printJSON(e, resp); err != nil {
			return err
		}
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("bundle set: server answered %d results for 1 bundle", len(resp.Results))
	}
	if st := resp.Results[0].Status; itemFailed(st) {
		return fmt.Errorf("bundle set: %s: %s", td, itemError(st))
	}
	if c.output != "json" {
		fmt.Fprintln(e.stdout, "Bundle set.")
	}
	return nil
}

func describeSource(path string) string {
	if path == "-" {
		return "(standard input)"
	}
	return path
}

var deleteModes = map[string]bundlev1.BatchDeleteFederatedBundleRequest_Mode{
	"restrict":   bundlev1.BatchDeleteFederatedBundleRequest_RESTRICT,
	"delete":     bundlev1.BatchDeleteFederatedBundleRequest_DELETE,
	"dissociate": bundlev1.BatchDeleteFederatedBundleRequest_DISSOCIATE,
}

func bundleDelete(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("bundle delete")
	id := fs.String("id", "", "trust domain of the federated bundle to delete (required)")
	mode := fs.String("mode", "restrict", "restrict: refuse while entries federate with it; "+
		"delete: also delete those entries; dissociate: remove it from those entries")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("-id is required: the trust domain of the bundle to delete")
	}
	td, err := parseTrustDomain("-id", *id)
	if err != nil {
		return err
	}
	m, ok := deleteModes[strings.ToLower(*mode)]
	if !ok {
		return fmt.Errorf("-mode must be restrict, delete or dissociate, not %q", *mode)
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.bundles.BatchDeleteFederatedBundle(ctx, &bundlev1.BatchDeleteFederatedBundleRequest{TrustDomains: []string{td}, Mode: m})
	if err != nil {
		return rpcError("bundle delete "+td, err)
	}
	if c.output == "json" {
		if err := printJSON(e, resp); err != nil {
			return err
		}
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("bundle delete: server answered %d results for 1 bundle", len(resp.Results))
	}
	if st := resp.Results[0].Status; itemFailed(st) {
		return fmt.Errorf("bundle delete: %s: %s", td, itemError(st))
	}
	if c.output != "json" {
		fmt.Fprintln(e.stdout, "Bundle deleted.")
	}
	return nil
}

func bundleCount(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("bundle count")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.bundles.CountBundles(ctx, &bundlev1.CountBundlesRequest{})
	if err != nil {
		return rpcError("bundle count", err)
	}
	if c.output == "json" {
		return printJSON(e, resp)
	}
	fmt.Fprintln(e.stdout, plural(int(resp.Count), "bundle", "bundles"))
	return nil
}
