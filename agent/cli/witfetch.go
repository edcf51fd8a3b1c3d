package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// fetchWIT prints this process's WIT-SVID and its private key (a JWK), which signs the
// proof of possession the token must be presented with; -output json prints the Workload
// API's WITSVIDResponse and WITBundlesResponse.
func fetchWIT(fs *flag.FlagSet) workloadCall {
	id := fs.String("spiffeID", "", "which of this workload's SPIFFE IDs (default: the first)")
	timeout := timeoutFlag(fs, "the WIT-SVID")
	return workloadCall{
		Check: func(*command.Env) error {
			if *id == "" {
				return nil
			}
			if _, err := spiffeid.FromString(*id); err != nil {
				return fmt.Errorf("-spiffeID %q: %w", *id, err)
			}
			return nil
		},
		Do: func(ctx context.Context, e *command.Env, c *workloadapi.Client) (*command.Output, error) {
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			svid, err := c.FetchWITSVID(ctx, *id)
			if err != nil {
				return nil, fmt.Errorf("fetching WIT-SVID: %w", err)
			}
			key, err := jose.JSONWebKey{Key: svid.PrivateKey}.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("encoding the WIT-SVID's key: %w", err)
			}
			text := func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s\n%s\n", svid.Marshal(), key)
				return err
			}
			if !e.JSON {
				return &command.Output{Text: text}, nil
			}
			bundles, err := c.FetchWITBundles(ctx)
			if err != nil {
				return nil, fmt.Errorf("fetching WIT bundles: %w", err)
			}
			bundlesResp := &workload.WITBundlesResponse{Bundles: map[string]string{}}
			for _, b := range bundles.Bundles() {
				jwks, err := b.Marshal()
				if err != nil {
					return nil, fmt.Errorf("encoding the WIT bundle of %s: %w", b.TrustDomain(), err)
				}
				bundlesResp.Bundles[b.TrustDomain().IDString()] = string(jwks)
			}
			svidResp := &workload.WITSVIDResponse{Svids: []*workload.WITSVID{{SpiffeId: svid.ID.String(), WitSvid: svid.Marshal(), WitSvidKey: string(key), Hint: svid.Hint}}}
			return &command.Output{JSON: []proto.Message{svidResp, bundlesResp}, Text: text}, nil
		},
	}
}
