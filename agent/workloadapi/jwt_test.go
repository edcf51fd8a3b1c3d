package workloadapi

import (
	"strconv"
	"testing"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestJWTSVIDRoundTrip(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	e.add("e2", "spiffe://example.org/batch", nil, selfUID)
	c := e.client()
	ctx := ctxT(t)

	svid, err := c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "db", Subject: spiffeid.RequireFromString("spiffe://example.org/web")})
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID.String() != "spiffe://example.org/web" {
		t.Fatalf("JWT-SVID for %s, want the requested spiffe://example.org/web", svid.ID)
	}
	again, err := c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "db", Subject: svid.ID})
	if err != nil || again.Marshal() != svid.Marshal() || e.mints.Load() != 1 {
		t.Fatalf("second fetch minted again (%d mints, err %v); want the cached token", e.mints.Load(), err)
	}

	valid, err := c.ValidateJWTSVID(ctx, svid.Marshal(), "db")
	if err != nil {
		t.Fatal(err)
	}
	if valid.ID != svid.ID {
		t.Fatalf("validated as %s", valid.ID)
	}
	// go-spiffe returns its own parse; check the server's claims on the raw API.
	resp := rawValidate(t, e, svid.Marshal(), "db")
	if resp.SpiffeId != "spiffe://example.org/web" || resp.Claims.Fields["team"].GetStringValue() != "payments" ||
		resp.Claims.Fields["sub"].GetStringValue() != "spiffe://example.org/web" {
		t.Fatalf("claims %v", resp.Claims)
	}

	all, err := c.FetchJWTSVIDs(ctx, jwtsvid.Params{Audience: "db"})
	if err != nil || len(all) != 2 {
		t.Fatalf("FetchJWTSVIDs without a subject: %d SVIDs, %v; want both identities", len(all), err)
	}

	bundles, err := c.FetchJWTBundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := bundles.Get(td); !ok || !b.HasJWTAuthority(e.ca.kid) {
		t.Fatal("FetchJWTBundles lacks the own JWT authority")
	}
}

func rawValidate(t *testing.T, e *env, token, audience string) *workload.ValidateJWTSVIDResponse {
	t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "workload.spiffe.io", "true")
	resp, err := workload.NewSpiffeWorkloadAPIClient(conn).ValidateJWTSVID(ctx, &workload.ValidateJWTSVIDRequest{Svid: token, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestJWTErrors(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	c := e.client()
	ctx := ctxT(t)
	token, err := c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "db"})
	if err != nil {
		t.Fatal(err)
	}
	stranger := newAuthority(t, td) // same trust domain name, keys the agent does not trust
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"a token validated for another audience is rejected", func() error {
			_, err := c.ValidateJWTSVID(ctx, token.Marshal(), "not-db")
			return err
		}, codes.InvalidArgument},
		{"a token signed by an unknown key is rejected", func() error {
			_, err := c.ValidateJWTSVID(ctx, stranger.jwt(t, "spiffe://example.org/web", []string{"db"}, token.Expiry), "db")
			return err
		}, codes.InvalidArgument},
		{"a garbage token is rejected", func() error {
			_, err := c.ValidateJWTSVID(ctx, "not.a.jwt", "db")
			return err
		}, codes.InvalidArgument},
		{"a fetch without an audience is rejected", func() error {
			_, err := c.FetchJWTSVID(ctx, jwtsvid.Params{})
			return err
		}, codes.InvalidArgument},
		{"a fetch for a SPIFFE ID the workload does not hold is denied", func() error {
			_, err := c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "db", Subject: spiffeid.RequireFromString("spiffe://example.org/admin")})
			return err
		}, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); status.Code(err) != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
}
