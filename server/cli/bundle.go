package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// formatFlag registers -format (pem or spiffe) and returns its checked value.
func formatFlag(fs *flag.FlagSet, name, usage string) func() (string, error) {
	format := fs.String(name, formatPEM, usage)
	return func() (string, error) { return *format, checkFormat(*format) }
}

const formatUsage = "pem (X.509 authorities) or spiffe (JWKS with X.509 and JWT authorities)"

// printBundle prints one bundle bare (PEM or SPIFFE), so the output can be saved as a
// bundle file.
func printBundle(b *types.Bundle, format string) *command.Output {
	return &command.Output{JSON: jsonOf(b), Text: func(w io.Writer) error {
		out, err := encodeBundle(b, format)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}}
}

func bundleShow(fs *flag.FlagSet) call {
	format := formatFlag(fs, "format", formatUsage)
	var f string
	return call{
		Check: func(*command.Env) (err error) { f, err = format(); return err },
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			b, err := cl.bundles.GetBundle(ctx, &bundlev1.GetBundleRequest{})
			if err != nil {
				return nil, rpcError("bundle show", err)
			}
			return printBundle(b, f), nil
		},
	}
}

func bundleList(fs *flag.FlagSet) call {
	id := fs.String("id", "", "trust domain of the one federated bundle to show (default: all)")
	format := formatFlag(fs, "format", formatUsage)
	var f, td string
	return call{
		Check: func(*command.Env) (err error) {
			if f, err = format(); err != nil {
				return err
			}
			if *id != "" {
				td, err = parseTrustDomain("-id", *id)
			}
			return err
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			if td != "" {
				b, err := cl.bundles.GetFederatedBundle(ctx, &bundlev1.GetFederatedBundleRequest{TrustDomain: td})
				if err != nil {
					return nil, rpcError("bundle list "+td, err)
				}
				return printBundle(b, f), nil
			}
			req := &bundlev1.ListFederatedBundlesRequest{PageSize: listPageSize}
			bundles, err := listAll("bundle list", &req.PageToken, func() ([]*types.Bundle, string, error) {
				resp, err := cl.bundles.ListFederatedBundles(ctx, req)
				return resp.GetBundles(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return nil, err
			}
			return &command.Output{JSON: jsonOf(&bundlev1.ListFederatedBundlesResponse{Bundles: bundles}), Text: func(w io.Writer) error {
				for i, b := range bundles {
					out, err := encodeBundle(b, f)
					if err != nil {
						return err
					}
					if i > 0 {
						fmt.Fprintln(w)
					}
					// PEM readers skip text outside blocks, so the header does not spoil the output.
					fmt.Fprintf(w, "# trust domain: %s\n", b.TrustDomain)
					if _, err := w.Write(out); err != nil {
						return err
					}
				}
				return nil
			}}, nil
		},
	}
}

func bundleSet(fs *flag.FlagSet) call {
	id := fs.String("id", "", "trust domain of the federated bundle, e.g. example.org (required)")
	path := fs.String("path", "", "file with the bundle data (default: standard input)")
	format := formatFlag(fs, "format", "format of the data: pem (X.509 authorities) or spiffe (JWKS)")
	var b *types.Bundle
	return call{
		Check: func(e *command.Env) error {
			if *id == "" {
				return errors.New("-id is required: the trust domain the bundle belongs to")
			}
			td, err := parseTrustDomain("-id", *id)
			if err != nil {
				return err
			}
			f, err := format()
			if err != nil {
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
			if b, err = decodeBundle(td, data, f); err != nil {
				return fmt.Errorf("bundle set: -path %s: %w", describeSource(source), err)
			}
			return nil
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			resp, err := cl.bundles.BatchSetFederatedBundle(ctx, &bundlev1.BatchSetFederatedBundleRequest{Bundle: []*types.Bundle{b}})
			if err != nil {
				return nil, rpcError("bundle set "+b.TrustDomain, err)
			}
			return oneResult("bundle set", "bundle", b.TrustDomain, resp, resp.Results, func(w io.Writer) { fmt.Fprintln(w, "Bundle set.") })
		},
	}
}

// oneResult is the outcome of a batch call of one item (named name in its error, if
// given): the answer with -output json (printed also when the item failed), text
// otherwise, and the item's error.
func oneResult[R interface{ GetStatus() *types.Status }](what, noun, name string, resp proto.Message, results []R, text func(io.Writer)) (*command.Output, error) {
	out := command.Print(resp, text)
	if len(results) != 1 {
		out.Text = nil
		return out, fmt.Errorf("%s: server answered %d results for 1 %s", what, len(results), noun)
	}
	if st := results[0].GetStatus(); itemFailed(st) {
		out.Text = nil
		if name != "" {
			what += ": " + name
		}
		return out, fmt.Errorf("%s: %s", what, itemError(st))
	}
	return out, nil
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

func bundleDelete(fs *flag.FlagSet) call {
	id := fs.String("id", "", "trust domain of the federated bundle to delete (required)")
	mode := fs.String("mode", "restrict", "restrict: refuse while entries federate with it; "+
		"delete: also delete those entries; dissociate: remove it from those entries")
	req := &bundlev1.BatchDeleteFederatedBundleRequest{}
	return call{
		Check: func(*command.Env) error {
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
			req.TrustDomains, req.Mode = []string{td}, m
			return nil
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			td := req.TrustDomains[0]
			resp, err := cl.bundles.BatchDeleteFederatedBundle(ctx, req)
			if err != nil {
				return nil, rpcError("bundle delete "+td, err)
			}
			return oneResult("bundle delete", "bundle", td, resp, resp.Results, func(w io.Writer) { fmt.Fprintln(w, "Bundle deleted.") })
		},
	}
}

func bundleCount(fs *flag.FlagSet) call {
	return call{Do: command.Send("bundle count", func(ctx context.Context, cl *client) (*bundlev1.CountBundlesResponse, error) {
		return cl.bundles.CountBundles(ctx, &bundlev1.CountBundlesRequest{})
	}, func(w io.Writer, resp *bundlev1.CountBundlesResponse) {
		fmt.Fprintln(w, plural(int(resp.Count), "bundle", "bundles"))
	})}
}
