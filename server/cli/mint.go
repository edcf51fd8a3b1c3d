package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/command"
)

// x509Mint asks the server to sign an X.509-SVID for a key generated in this process: the
// private key never crosses the socket, and is written only to -write DIR (0600) or
// standard output.
func x509Mint(fs *flag.FlagSet) call {
	spiffeID := fs.String("spiffeID", "", "SPIFFE ID of the SVID (required)")
	ttl := fs.Int("ttl", 0, "lifetime in seconds (default: the server's default_x509_svid_ttl)")
	var dns stringList
	fs.Var(&dns, "dns", "DNS SAN; repeat for several")
	write := fs.String("write", "", "folder to write svid.pem, key.pem (0600) and bundle.pem to, instead of printing them")
	var id spiffeid.ID
	var secs int32
	return call{
		Check: func(*command.Env) (err error) {
			if _, err := parseID("-spiffeID", *spiffeID); err != nil {
				return err
			}
			if id, err = spiffeid.FromString(*spiffeID); err != nil {
				return fmt.Errorf("-spiffeID %q: %w", *spiffeID, err)
			}
			secs, err = optionalSeconds("-ttl", *ttl)
			return err
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return nil, fmt.Errorf("generating key: %w", err)
			}
			csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id.URL()}, DNSNames: dns}, key)
			if err != nil {
				return nil, fmt.Errorf("creating CSR: %w", err)
			}
			keyDER, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return nil, err
			}
			resp, err := cl.svids.MintX509SVID(ctx, &svidv1.MintX509SVIDRequest{Csr: csr, Ttl: secs})
			if err != nil {
				return nil, rpcError("x509 mint", err)
			}
			bundle, err := cl.bundles.GetBundle(ctx, &bundlev1.GetBundleRequest{})
			if err != nil {
				return nil, rpcError("x509 mint: bundle", err)
			}
			var svidPEM bytes.Buffer
			for _, der := range resp.Svid.CertChain {
				_ = pem.Encode(&svidPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der})
			}
			bundlePEM := bundleconv.X509PEM(bundle)
			keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
			expires := time.Unix(resp.Svid.ExpiresAt, 0).UTC().Format(time.RFC3339)
			if *write != "" {
				files := []struct {
					name string
					data []byte
					mode os.FileMode
				}{{"svid.pem", svidPEM.Bytes(), 0o644}, {"key.pem", keyPEM, 0o600}, {"bundle.pem", bundlePEM, 0o644}}
				if err := os.MkdirAll(*write, 0o755); err != nil {
					return nil, fmt.Errorf("-write %s: %w", *write, err)
				}
				for _, f := range files {
					if err := writeFileMode(filepath.Join(*write, f.name), f.data, f.mode); err != nil {
						return nil, fmt.Errorf("-write: %w", err)
					}
				}
				return command.Print(resp, func(w io.Writer) {
					fmt.Fprintf(w, "X.509-SVID %s (expires %s) written to %s\n", id, expires, *write)
				}), nil
			}
			return command.Print(resp, func(w io.Writer) {
				fmt.Fprintf(w, "# SPIFFE ID %s, expires %s\n%s%s# bundle\n%s", id, expires, svidPEM.String(), keyPEM, bundlePEM)
			}), nil
		},
	}
}

// writeFileMode writes data with exactly mode, replacing any file: a key must not land
// in a file left readable by others.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// jwtMint asks the server for a JWT-SVID.
func jwtMint(fs *flag.FlagSet) call {
	spiffeID := fs.String("spiffeID", "", "SPIFFE ID of the SVID (required)")
	ttl := fs.Int("ttl", 0, "lifetime in seconds (default: the server's default_jwt_svid_ttl)")
	var audience stringList
	fs.Var(&audience, "audience", "audience; repeat for several (at least one)")
	req := &svidv1.MintJWTSVIDRequest{}
	return call{
		Check: func(*command.Env) (err error) {
			if req.Id, err = parseID("-spiffeID", *spiffeID); err != nil {
				return err
			}
			if len(audience) == 0 || strings.TrimSpace(audience[0]) == "" {
				return fmt.Errorf("-audience is required: name who the token is for, e.g. -audience sts.amazonaws.com")
			}
			req.Audience = audience
			req.Ttl, err = optionalSeconds("-ttl", *ttl)
			return err
		},
		Do: command.Send("jwt mint", func(ctx context.Context, cl *client) (*svidv1.MintJWTSVIDResponse, error) {
			return cl.svids.MintJWTSVID(ctx, req)
		}, func(w io.Writer, resp *svidv1.MintJWTSVIDResponse) { fmt.Fprintln(w, resp.Svid.Token) }),
	}
}

// optionalSeconds is seconds for a flag where 0 means "the server's default".
func optionalSeconds(name string, v int) (int32, error) {
	if v == 0 {
		return 0, nil
	}
	if v < 0 {
		return 0, fmt.Errorf("%s must be a positive number of seconds, not %d", name, v)
	}
	return seconds(name, v)
}
