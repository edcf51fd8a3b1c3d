package workloadapi

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// FuzzValidateJWTSVID feeds ValidateJWTSVID over a real Workload API socket, both raw
// tokens and arbitrary claims signed with the trusted JWT key (so the checks after the
// signature see every shape of claims). The agent delegates parsing to go-spiffe and
// re-encodes the claims itself: the answer is the token's identity or InvalidArgument,
// never an internal error, and an accepted token is valid for the audience asked.
func FuzzValidateJWTSVID(f *testing.F) {
	e := start(f)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	exp := time.Now().Add(time.Hour).Unix()
	good := e.ca.jwt(f, "spiffe://example.org/web", []string{"db"}, time.Now().Add(time.Hour))
	f.Add(good, "", "db")
	f.Add(good, "", "other")
	f.Add(good[:len(good)-4], "", "db")
	f.Add("", `{"sub":"spiffe://example.org/web","aud":"db","exp":`+itoa(int(exp))+`}`, "db")
	f.Add("", `{"sub":"spiffe://example.org/web","aud":["db","x"],"exp":`+itoa(int(exp))+`,"nested":{"a":[1,null,true,"s"]}}`, "db")
	f.Add("", `{"sub":"spiffe://example.org/web","aud":"db","exp":1}`, "db")
	f.Add("", `{"sub":"https://example.org/web","aud":"db","exp":`+itoa(int(exp))+`}`, "db")
	f.Add("", `{"sub":"spiffe://example.org/web","aud":"db","exp":`+itoa(int(exp))+",\"x\":\"\xff\xfe\"}", "db") // invalid UTF-8
	f.Add("", `{"sub":"spiffe://example.org/web","aud":"db","exp":`+itoa(int(exp))+`,"x":1e400}`, "db")
	f.Add("e30.e30.", "", "db")

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: e.ca.jwtKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", e.ca.kid))
	if err != nil {
		f.Fatal(err)
	}
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	client := workload.NewSpiffeWorkloadAPIClient(conn)

	f.Fuzz(func(t *testing.T, token, claims, audience string) {
		if !utf8.ValidString(token) || !utf8.ValidString(audience) {
			return // protobuf strings are UTF-8: the client cannot send these
		}
		if claims != "" {
			jws, err := signer.Sign([]byte(claims))
			if err != nil {
				t.Fatal(err)
			}
			if token, err = jws.CompactSerialize(); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "workload.spiffe.io", "true"), 15*time.Second)
		defer cancel()
		resp, err := client.ValidateJWTSVID(ctx, &workload.ValidateJWTSVIDRequest{Svid: token, Audience: audience})
		if err != nil {
			if code := status.Code(err); code != codes.InvalidArgument {
				t.Fatalf("ValidateJWTSVID answered %s, want OK or InvalidArgument: %v", code, err)
			}
			return
		}
		id, err := spiffeid.FromString(resp.SpiffeId)
		if err != nil || !id.MemberOf(td) {
			t.Fatalf("accepted a token of %q", resp.SpiffeId)
		}
		fields := resp.Claims.GetFields()
		if fields["sub"].GetStringValue() != resp.SpiffeId {
			t.Fatalf("accepted a token whose sub %v is not the identity %q", fields["sub"], resp.SpiffeId)
		}
		var auds []string
		if raw, err := fields["aud"].MarshalJSON(); err == nil {
			var one string
			if json.Unmarshal(raw, &one) == nil {
				auds = []string{one}
			} else {
				_ = json.Unmarshal(raw, &auds)
			}
		}
		if !slices.Contains(auds, audience) {
			t.Fatalf("accepted a token for audiences %q when asked for %q", auds, audience)
		}
		if exp := fields["exp"].GetNumberValue(); exp < float64(time.Now().Unix()) {
			t.Fatalf("accepted a token that expired at %v", exp)
		}
	})
}
