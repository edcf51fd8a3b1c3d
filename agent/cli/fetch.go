package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// The api commands call the Workload API with the go-spiffe SDK, as a workload would.
// With -output json they print the Workload API's own answers (workload.proto), as
// SPIRE's agent CLI does.

type workloadCall = command.Call[*workloadapi.Client]

// timeoutFlag registers -timeout, how long a fetch may wait for the agent.
func timeoutFlag(fs *flag.FlagSet, what string) *time.Duration {
	return fs.Duration("timeout", 10*time.Second, "how long to wait for "+what)
}

func fetchX509(fs *flag.FlagSet) workloadCall {
	write := fs.String("write", "", "directory to write the SVIDs, keys and bundle to (PEM, keys 0600)")
	timeout := timeoutFlag(fs, "an SVID")
	return workloadCall{Do: func(ctx context.Context, _ *command.Env, c *workloadapi.Client) (*command.Output, error) {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		x, err := c.FetchX509Context(ctx)
		if err != nil {
			return nil, fmt.Errorf("fetching X.509-SVIDs: %w", err)
		}
		if *write != "" {
			if err := writeX509(*write, x); err != nil {
				return nil, err
			}
		}
		resp, err := x509Response(x)
		if err != nil {
			return nil, err
		}
		return command.Print(resp, func(w io.Writer) {
			for _, s := range x.SVIDs {
				fmt.Fprintf(w, "SPIFFE ID:  %s\nHint:       %s\nExpires at: %s\n", s.ID, s.Hint, s.Certificates[0].NotAfter.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(w, "Received %d SVID(s) and %d bundle(s)\n", len(x.SVIDs), len(x.Bundles.Bundles()))
		}), nil
	}}
}

// writeX509 writes svid.N.pem, svid.N.key (0600) and bundle.N.pem into dir.
func writeX509(dir string, x *workloadapi.X509Context) error {
	for i, s := range x.SVIDs {
		certs, key, err := s.Marshal()
		if err != nil {
			return err
		}
		if err := writeFile(dir, fmt.Sprintf("svid.%d.pem", i), certs, 0o644); err != nil {
			return err
		}
		if err := writeFile(dir, fmt.Sprintf("svid.%d.key", i), key, 0o600); err != nil {
			return err
		}
	}
	for i, b := range x.Bundles.Bundles() {
		var out []byte
		for _, c := range b.X509Authorities() {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		if err := writeFile(dir, fmt.Sprintf("bundle.%d.pem", i), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// x509Response is an X.509 context in the Workload API's wire form: DER certificates
// concatenated, PKCS#8 keys, federated bundles keyed by trust domain ID.
func x509Response(x *workloadapi.X509Context) (*workload.X509SVIDResponse, error) {
	resp := &workload.X509SVIDResponse{FederatedBundles: map[string][]byte{}}
	own := map[spiffeid.TrustDomain]bool{}
	for _, s := range x.SVIDs {
		key, err := x509.MarshalPKCS8PrivateKey(s.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("encoding the key of %s: %w", s.ID, err)
		}
		var bundle []byte
		if b, ok := x.Bundles.Get(s.ID.TrustDomain()); ok {
			bundle = concatDER(b.X509Authorities())
		}
		own[s.ID.TrustDomain()] = true
		resp.Svids = append(resp.Svids, &workload.X509SVID{
			SpiffeId: s.ID.String(), X509Svid: concatDER(s.Certificates), X509SvidKey: key, Bundle: bundle, Hint: s.Hint,
		})
	}
	for _, b := range x.Bundles.Bundles() {
		if !own[b.TrustDomain()] {
			resp.FederatedBundles[b.TrustDomain().IDString()] = concatDER(b.X509Authorities())
		}
	}
	return resp, nil
}

func concatDER(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.Raw...)
	}
	return out
}

func fetchJWT(fs *flag.FlagSet) workloadCall {
	audience := fs.String("audience", "", "audience of the JWT-SVID (required)")
	id := fs.String("spiffeID", "", "which of this workload's SPIFFE IDs (default: the first)")
	timeout := timeoutFlag(fs, "the JWT-SVID")
	params := jwtsvid.Params{}
	return workloadCall{
		Check: func(*command.Env) error {
			if *audience == "" {
				return errors.New("-audience is required")
			}
			params.Audience = *audience
			if *id != "" {
				sid, err := spiffeid.FromString(*id)
				if err != nil {
					return fmt.Errorf("-spiffeID %q: %w", *id, err)
				}
				params.Subject = sid
			}
			return nil
		},
		Do: func(ctx context.Context, e *command.Env, c *workloadapi.Client) (*command.Output, error) {
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			svid, err := c.FetchJWTSVID(ctx, params)
			if err != nil {
				return nil, fmt.Errorf("fetching JWT-SVID: %w", err)
			}
			text := func(w io.Writer) error { _, err := fmt.Fprintln(w, svid.Marshal()); return err }
			if !e.JSON {
				return &command.Output{Text: text}, nil
			}
			// As SPIRE prints it: the SVID, then the JWT bundles to verify it with.
			bundles, err := c.FetchJWTBundles(ctx)
			if err != nil {
				return nil, fmt.Errorf("fetching JWT bundles: %w", err)
			}
			bundlesResp := &workload.JWTBundlesResponse{Bundles: map[string][]byte{}}
			for _, b := range bundles.Bundles() {
				jwks, err := b.Marshal()
				if err != nil {
					return nil, fmt.Errorf("encoding the JWT bundle of %s: %w", b.TrustDomain(), err)
				}
				bundlesResp.Bundles[b.TrustDomain().IDString()] = jwks
			}
			svidResp := &workload.JWTSVIDResponse{Svids: []*workload.JWTSVID{{SpiffeId: svid.ID.String(), Svid: svid.Marshal(), Hint: svid.Hint}}}
			return &command.Output{JSON: []proto.Message{svidResp, bundlesResp}, Text: text}, nil
		},
	}
}

func validateJWT(fs *flag.FlagSet) workloadCall {
	audience := fs.String("audience", "", "expected audience (required)")
	token := fs.String("svid", "", "the JWT-SVID to validate (required)")
	timeout := timeoutFlag(fs, "the answer")
	return workloadCall{
		Check: func(*command.Env) error {
			if *audience == "" || *token == "" {
				return errors.New("-audience and -svid are required")
			}
			return nil
		},
		Do: func(ctx context.Context, _ *command.Env, c *workloadapi.Client) (*command.Output, error) {
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			svid, err := c.ValidateJWTSVID(ctx, *token, *audience)
			if err != nil {
				return nil, fmt.Errorf("JWT-SVID is not valid: %w", err)
			}
			claims, err := structpb.NewStruct(svid.Claims)
			if err != nil {
				return nil, fmt.Errorf("encoding the claims: %w", err)
			}
			return command.Print(&workload.ValidateJWTSVIDResponse{SpiffeId: svid.ID.String(), Claims: claims}, func(w io.Writer) {
				fmt.Fprintf(w, "SVID is valid.\nSPIFFE ID: %s\n", svid.ID)
			}), nil
		},
	}
}

func writeFile(dir, name string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}
