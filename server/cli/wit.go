package cli

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// witKeyTypes are the workload key types `wit mint -keyType` makes, with the algorithms
// the WIT-SVID spec allows for each (SPIRE's pairs).
var witKeyTypes = map[string][]string{
	"ec-p256":  {"ES256"},
	"ec-p384":  {"ES384"},
	"rsa-2048": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
	"rsa-4096": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
}

// witMint asks the server for a WIT-SVID bound to a key made in this process, as SPIRE's
// `wit mint`: the private key never crosses the socket; it is printed (a JWK) or written
// to -write DIR (0600). -output json prints SPIRE's shape, {"private_key", "svid"}.
func witMint(fs *flag.FlagSet) call {
	spiffeID := fs.String("spiffeID", "", "SPIFFE ID of the WIT-SVID (required)")
	keyType := fs.String("keyType", "ec-p256", "workload key type: ec-p256, ec-p384, rsa-2048 or rsa-4096")
	alg := fs.String("signingAlgorithm", "ES256", "algorithm of the workload key (cnf.jwk.alg): ES256, ES384, RS256..512 or PS256..512, fitting -keyType")
	var ttl ttlFlag
	fs.Var(&ttl, "ttl", "lifetime, a duration (1h) or seconds (default: the server's default_wit_svid_ttl)")
	write := fs.String("write", "", "folder to write token and key (0600, a JWK) to, instead of printing them")
	req := &svidv1.MintWITSVIDRequest{}
	return call{
		Check: func(*command.Env) (err error) {
			if req.Id, err = parseID("-spiffeID", *spiffeID); err != nil {
				return err
			}
			algs, ok := witKeyTypes[*keyType]
			if !ok {
				return fmt.Errorf("-keyType %q: use ec-p256, ec-p384, rsa-2048 or rsa-4096", *keyType)
			}
			if !slices.Contains(algs, *alg) {
				return fmt.Errorf("-signingAlgorithm %q does not fit -keyType %s: use one of %v", *alg, *keyType, algs)
			}
			req.SigningAlgorithm, req.Ttl = *alg, int32(ttl)
			return nil
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			key, err := newWorkloadKey(*keyType)
			if err != nil {
				return nil, fmt.Errorf("generating key: %w", err)
			}
			if req.PublicKey, err = x509.MarshalPKIXPublicKey(key.Public()); err != nil {
				return nil, err
			}
			keyJWK, err := jose.JSONWebKey{Key: key, Algorithm: *alg}.MarshalJSON()
			if err != nil {
				return nil, err
			}
			resp, err := cl.svids.MintWITSVID(ctx, req)
			if err != nil {
				return nil, rpcError("wit mint", err)
			}
			expires := time.Unix(resp.Svid.ExpiresAt, 0).UTC().Format(time.RFC3339)
			if *write != "" {
				if err := os.MkdirAll(*write, 0o755); err != nil {
					return nil, fmt.Errorf("-write %s: %w", *write, err)
				}
				for name, data := range map[string][]byte{"token": []byte(resp.Svid.Token), "key": keyJWK} {
					if err := writeFileMode(filepath.Join(*write, name), data, 0o600); err != nil {
						return nil, fmt.Errorf("-write: %w", err)
					}
				}
				return command.Print(resp, func(w io.Writer) {
					fmt.Fprintf(w, "WIT-SVID %s (expires %s) written to %s\n", *spiffeID, expires, filepath.Join(*write, "token"))
					fmt.Fprintf(w, "Private key written to %s\n", filepath.Join(*write, "key"))
				}), nil
			}
			out, err := witMintJSON(resp, string(keyJWK))
			if err != nil {
				return nil, err
			}
			return command.Print(out, func(w io.Writer) {
				fmt.Fprintln(w, resp.Svid.Token)
				fmt.Fprintln(w, string(keyJWK))
			}), nil
		},
	}
}

// witMintJSON is SPIRE's `wit mint -output json` document: the private key JWK as a
// string, and the API's WIT-SVID.
func witMintJSON(resp *svidv1.MintWITSVIDResponse, keyJWK string) (*structpb.Struct, error) {
	svidJSON, err := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}.Marshal(resp.Svid)
	if err != nil {
		return nil, err
	}
	svid := &structpb.Struct{}
	if err := protojson.Unmarshal(svidJSON, svid); err != nil {
		return nil, err
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"private_key": structpb.NewStringValue(keyJWK),
		"svid":        structpb.NewStructValue(svid),
	}}, nil
}

func newWorkloadKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "ec-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa-2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// ttlFlag is a lifetime in seconds given as SPIRE's duration (1h30m) or as seconds (600).
type ttlFlag int32

func (f *ttlFlag) String() string { return strconv.Itoa(int(*f)) }

func (f *ttlFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if n, nerr := strconv.Atoi(s); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil {
		return fmt.Errorf("want a duration such as 1h or a number of seconds")
	}
	secs := (d + time.Second - 1) / time.Second
	if secs < 0 || secs > 1<<31-1 {
		return fmt.Errorf("must be between 0 and 2147483647 seconds")
	}
	*f = ttlFlag(secs)
	return nil
}
