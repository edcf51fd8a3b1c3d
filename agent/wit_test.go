package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/exp/bundle/witbundle"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/internal/witproof"
)

// witWatcher hands every WIT-SVID update go-spiffe's client receives to a channel.
type witWatcher struct{ updates chan []*witsvid.SVID }

func (w witWatcher) OnWITSVIDsUpdate(s []*witsvid.SVID) {
	select {
	case w.updates <- s:
	default:
	}
}
func (w witWatcher) OnWITSVIDsWatchError(error) {}

// go-spiffe's WIT client fetches a WIT-SVID from a real agent of a real server, verifies it
// against the WIT bundle it fetches too, and a proof of possession signed with the key that
// came with it verifies with the token's cnf.jwk; one signed with another key does not.
func TestGoSPIFFEFetchesAWITSVIDAndProvesPossession(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("web", agentID, time.Hour)
	// Another uid's entry under the same agent: this process must not get its WIT-SVID.
	if _, err := entryv1.NewEntryClient(e.admin).BatchCreateEntry(t.Context(), &entryv1.BatchCreateEntryRequest{Entries: []*types.Entry{{
		SpiffeId:  &types.SPIFFEID{TrustDomain: testTD, Path: "/theirs"},
		ParentId:  &types.SPIFFEID{TrustDomain: testTD, Path: agentID.Path()},
		Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", os.Getuid()+1)}},
	}}}); err != nil {
		t.Fatal(err)
	}
	a := e.startAgent(cfg)
	client, err := workloadapi.New(t.Context(), workloadapi.WithAddr("unix://"+cfg.SocketPath))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var svids []*witsvid.SVID
	poll.Until(t, 30*time.Second, "the agent to serve a WIT-SVID", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		svids, err = client.FetchWITSVIDs(ctx, "")
		return err == nil
	})
	if len(svids) != 1 || svids[0].ID.String() != "spiffe://"+testTD+"/web" || svids[0].PrivateKey == nil {
		t.Fatalf("WIT-SVIDs %v; want only /web, with its private key", svids)
	}
	bundles, err := client.FetchWITBundles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	svid, err := witsvid.ParseAndValidate(svids[0].Marshal(), bundles)
	if err != nil {
		t.Fatalf("the WIT-SVID does not verify against the WIT bundle: %v", err)
	}
	proof, err := witproof.Sign(svids[0], "https://orders.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := witproof.Verify(proof, svid, "https://orders.example", time.Now()); err != nil {
		t.Fatalf("a proof signed with the WIT-SVID's key does not verify with cnf.jwk: %v", err)
	}
	forged := *svids[0]
	forged.PrivateKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if proof, err := witproof.Sign(&forged, "https://orders.example", time.Now()); err != nil || witproof.Verify(proof, svid, "https://orders.example", time.Now()) == nil {
		t.Fatalf("a proof signed with another key verified with the WIT-SVID's cnf.jwk (%v)", err)
	}
	if _, err := witsvid.ParseAndValidate(svid.Marshal(), witbundle.NewSet()); err == nil {
		t.Fatal("the WIT-SVID verified without a WIT bundle")
	}
	if _, err := client.FetchWITSVID(t.Context(), "spiffe://"+testTD+"/theirs"); err == nil {
		t.Fatal("this process got another uid's WIT-SVID")
	}

	// Rotation: past half its life the agent replaces it, and the stream delivers the new one.
	w := witWatcher{updates: make(chan []*witsvid.SVID, 16)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = client.WatchWITSVIDs(ctx, w, "") }()
	defer func() { cancel(); <-done }()
	first := <-w.updates
	if first[0].Marshal() != svid.Marshal() {
		t.Fatal("the stream began with another WIT-SVID than the fetch returned")
	}
	a.clock.Step(31 * time.Minute)
	var next *witsvid.SVID
	poll.Until(t, 30*time.Second, "a rotated WIT-SVID on the stream", func() bool {
		select {
		case u := <-w.updates:
			if u[0].Marshal() != svid.Marshal() {
				next = u[0]
				return true
			}
		default:
		}
		a.clock.Step(time.Second) // the minter's tick
		return false
	})
	if _, err := witsvid.ParseAndValidate(next.Marshal(), bundles); err != nil {
		t.Fatalf("the rotated WIT-SVID does not verify: %v", err)
	}
	if next.PublicKey.(*ecdsa.PublicKey).Equal(svid.PublicKey) {
		t.Fatal("the rotated WIT-SVID binds the same key")
	}
}

// Forced rotation of the WIT key: once the old key is tainted the agent replaces the
// WIT-SVIDs it signed at once, and after the revocation the old key leaves the WIT bundle.
func TestTaintedWITKeyIsReplacedAtOnceAndRevoked(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("web", agentID, time.Hour)
	a := e.startAgent(cfg)
	client, err := workloadapi.New(t.Context(), workloadapi.WithAddr("unix://"+cfg.SocketPath))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	kid := func() string {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		svid, err := client.FetchWITSVID(ctx, "")
		if err != nil {
			return ""
		}
		return svid.KeyID
	}
	la := localauthorityv1.NewLocalAuthorityClient(e.admin)
	state, err := la.GetWITAuthorityState(t.Context(), &localauthorityv1.GetWITAuthorityStateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	oldKid := state.Active.AuthorityId
	poll.Until(t, 30*time.Second, "a WIT-SVID signed by the active key", func() bool { return kid() == oldKid })
	prep, err := la.PrepareWITAuthority(t.Context(), &localauthorityv1.PrepareWITAuthorityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	newKid := prep.PreparedAuthority.AuthorityId
	if _, err := la.ActivateWITAuthority(t.Context(), &localauthorityv1.ActivateWITAuthorityRequest{AuthorityId: newKid}); err != nil {
		t.Fatal(err)
	}
	if _, err := la.RevokeWITAuthority(t.Context(), &localauthorityv1.RevokeWITAuthorityRequest{AuthorityId: oldKid}); err == nil || !strings.Contains(status.Convert(err).Message(), "taint") {
		t.Fatalf("revoking the WIT key before tainting it: %v; want a refusal that says to taint it first", err)
	}
	if _, err := la.TaintWITAuthority(t.Context(), &localauthorityv1.TaintWITAuthorityRequest{AuthorityId: oldKid}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the WIT-SVID to be replaced by one of the new key", func() bool {
		a.clock.Step(time.Second) // the minter's tick; far from half the WIT-SVID's life
		return kid() == newKid
	})
	if _, err := la.RevokeWITAuthority(t.Context(), &localauthorityv1.RevokeWITAuthorityRequest{AuthorityId: oldKid}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the revoked key to leave the agent's WIT bundle", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		set, err := client.FetchWITBundles(ctx)
		if err != nil {
			return false
		}
		b, ok := set.Get(spiffeid.RequireTrustDomainFromString(testTD))
		return ok && !b.HasWITAuthority(oldKid) && b.HasWITAuthority(newKid)
	})
}
