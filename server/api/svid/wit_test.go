package svid_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

func witPublicKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// verifyWIT checks a WIT-SVID with go-spiffe against the WIT authorities of the server's
// bundle, as a relying party would, and that it binds key.
func verifyWIT(t *testing.T, s *servertest.Server, token string, key *ecdsa.PrivateKey) *witsvid.SVID {
	t.Helper()
	b, err := bundlev1.NewBundleClient(s.Admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.WitAuthorities) == 0 {
		t.Fatal("the bundle has no WIT authorities")
	}
	sb, err := bundleconv.ToSPIFFE(b)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := witsvid.ParseAndValidate(token, sb)
	if err != nil {
		t.Fatalf("go-spiffe rejects the WIT-SVID: %v", err)
	}
	if !key.PublicKey.Equal(svid.PublicKey) {
		t.Fatal("the WIT-SVID's cnf.jwk is not the requested key")
	}
	return svid
}

func TestMintWITSVIDBindsTheGivenKey(t *testing.T) {
	s := servertest.Start(t)
	key, der := witPublicKey(t)
	c := svidv1.NewSVIDClient(s.Admin)
	resp, err := c.MintWITSVID(t.Context(), &svidv1.MintWITSVIDRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"},
		PublicKey: der, SigningAlgorithm: "ES256", Ttl: 600})
	if err != nil {
		t.Fatal(err)
	}
	svid := verifyWIT(t, s, resp.Svid.Token, key)
	if svid.ID.String() != "spiffe://example.org/db" || resp.Svid.ExpiresAt != s.Clock.Now().Add(10*time.Minute).Unix() || resp.Svid.IssuedAt != s.Clock.Now().Unix() {
		t.Fatalf("minted %s, expires %d, issued %d; want /db for 10 minutes from now", svid.ID, resp.Svid.ExpiresAt, resp.Svid.IssuedAt)
	}
	def, err := c.MintWITSVID(t.Context(), &svidv1.MintWITSVIDRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"}, PublicKey: der, SigningAlgorithm: "ES256"})
	if err != nil || def.Svid.ExpiresAt != s.Clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("without a ttl: %v %v; want the default of 1h", def, err)
	}
	for name, req := range map[string]*svidv1.MintWITSVIDRequest{
		"another trust domain":           {Id: &types.SPIFFEID{TrustDomain: "other.org", Path: "/db"}, PublicKey: der, SigningAlgorithm: "ES256"},
		"no public key":                  {Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"}, SigningAlgorithm: "ES256"},
		"an algorithm unfit for the key": {Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"}, PublicKey: der, SigningAlgorithm: "RS256"},
		"no algorithm":                   {Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"}, PublicKey: der},
		"a negative ttl":                 {Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"}, PublicKey: der, SigningAlgorithm: "ES256", Ttl: -1},
	} {
		if _, err := c.MintWITSVID(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
	}
}

func TestAnAgentGetsWITSVIDsForItsAuthorizedEntriesOnly(t *testing.T) {
	s := servertest.Start(t)
	agent, stranger := s.AttestAgent(), s.AttestAgent()
	mine := s.Entry("/web", agent.ID, "unix:uid:33")
	mine.Hint, mine.X509SvidTtl = "web", 600
	short := s.Entry("/short", agent.ID, "unix:uid:34")
	short.ExpiresAt = s.Clock.Now().Add(5 * time.Minute).Unix()
	created := s.CreateEntries(mine, short, s.Entry("/theirs", stranger.ID, "unix:uid:35"))
	key, der := witPublicKey(t)

	resp, err := svidv1.NewSVIDClient(agent.Conn).BatchNewWITSVID(t.Context(), &svidv1.BatchNewWITSVIDRequest{Params: []*svidv1.NewWITSVIDParams{
		{EntryId: created[0].Id, PublicKey: der, SigningAlgorithm: "ES256"},
		{EntryId: created[1].Id, PublicKey: der, SigningAlgorithm: "ES256"},
		{EntryId: created[2].Id, PublicKey: der, SigningAlgorithm: "ES256"},
		{EntryId: "no-such-entry", PublicKey: der, SigningAlgorithm: "ES256"},
		{PublicKey: der, SigningAlgorithm: "ES256"},
		{EntryId: created[0].Id, PublicKey: []byte("not a key"), SigningAlgorithm: "ES256"},
		{EntryId: created[0].Id, PublicKey: der, SigningAlgorithm: "ES384"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if code(r[0].Status) != codes.OK {
		t.Fatalf("authorized entry: %v", r[0].Status)
	}
	svid := verifyWIT(t, s, r[0].Svid.Token, key)
	if svid.ID.Path() != "/web" || r[0].Svid.Hint != "web" || r[0].Svid.Id.Path != "/web" || r[0].Svid.ExpiresAt != s.Clock.Now().Add(10*time.Minute).Unix() {
		t.Fatalf("WIT-SVID for /web: %s (hint %q, expires %d); want the entry's ID, hint and x509_svid_ttl", svid.ID, r[0].Svid.Hint, r[0].Svid.ExpiresAt)
	}
	if code(r[1].Status) != codes.OK || r[1].Svid.ExpiresAt != short.ExpiresAt {
		t.Fatalf("entry expiring in 5m: %v; want the WIT-SVID to expire with the entry", r[1])
	}
	for i, want := range map[int]codes.Code{2: codes.NotFound, 3: codes.NotFound, 4: codes.InvalidArgument, 5: codes.InvalidArgument, 6: codes.InvalidArgument} {
		if code(r[i].Status) != want || r[i].Svid != nil {
			t.Errorf("item %d: %v; want %s and no SVID", i, r[i].Status, want)
		}
	}
}

func TestBatchNewWITSVIDRefusesNonAgentsAndLargeBatches(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	entry := s.CreateEntries(s.Entry("/web", agent.ID, "unix:uid:33"))[0]
	_, der := witPublicKey(t)
	one := []*svidv1.NewWITSVIDParams{{EntryId: entry.Id, PublicKey: der, SigningAlgorithm: "ES256"}}
	for name, conn := range map[string]*grpc.ClientConn{
		"the admin socket":      s.Admin,
		"an admin SVID":         s.AdminPeer("/ops").Conn,
		"a caller without SVID": s.Dial(nil, nil),
	} {
		_, err := svidv1.NewSVIDClient(conn).BatchNewWITSVID(t.Context(), &svidv1.BatchNewWITSVIDRequest{Params: one})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("BatchNewWITSVID from %s: %v; want PermissionDenied", name, err)
		}
	}
	for name, conn := range map[string]*grpc.ClientConn{"an agent": agent.Conn, "a caller without SVID": s.Dial(nil, nil)} {
		_, err := svidv1.NewSVIDClient(conn).MintWITSVID(t.Context(), &svidv1.MintWITSVIDRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/db"}, PublicKey: der, SigningAlgorithm: "ES256"})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("MintWITSVID from %s: %v; want PermissionDenied", name, err)
		}
	}
	big := make([]*svidv1.NewWITSVIDParams, 501)
	for i := range big {
		big[i] = one[0]
	}
	c := svidv1.NewSVIDClient(agent.Conn)
	if _, err := c.BatchNewWITSVID(t.Context(), &svidv1.BatchNewWITSVIDRequest{Params: big}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("501 keys: %v; want InvalidArgument", err)
	}
	if _, err := c.BatchNewWITSVID(t.Context(), &svidv1.BatchNewWITSVIDRequest{Params: big[:500]}); err != nil {
		t.Fatalf("500 keys: %v", err)
	}
}
