package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/logbuf"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

var partnerTD = spiffeid.RequireTrustDomainFromString("partner.org")

// webPartner serves partner.org's bundle with the https_web profile and a certificate for
// 127.0.0.1 from a private CA, returning the URL and a pool that trusts that CA.
func webPartner(t *testing.T, own *ownBundle, hint time.Duration) (string, *x509.CertPool, func()) {
	t.Helper()
	webCA := newTestCA(t, "web-ca.test")
	certFile, keyFile := writePEM(t, t.TempDir(), webCA.leaf(t, "", "127.0.0.1"))
	e, err := NewEndpoint(EndpointConfig{TrustDomain: partnerTD, Bundles: own, RefreshHint: hint,
		Profile: datastore.ProfileHTTPSWeb, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	url, stop := serveEndpoint(t, e)
	pool := x509.NewCertPool()
	pool.AddCert(webCA.cert)
	return url, pool, stop
}

func storedCAs(t *testing.T, s Store) int {
	b, err := s.GetBundle(context.Background(), partnerTD.Name())
	if err != nil {
		return 0
	}
	return len(b.X509Authorities)
}

func runRefresher(t *testing.T, cfg RefresherConfig) *Refresher {
	t.Helper()
	r := NewRefresher(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func TestEndpointServesTheSPIFFEBundleDocument(t *testing.T) {
	own := &ownBundle{}
	ca := newTestCA(t, partnerTD.Name())
	own.set(partnerTD.Name(), 3, ca)
	url, pool, _ := webPartner(t, own, 90*time.Second)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc struct {
		Keys        []map[string]any `json:"keys"`
		RefreshHint int              `json:"spiffe_refresh_hint"`
		Sequence    int              `json:"spiffe_sequence"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.RefreshHint != 90 || doc.Sequence != 3 {
		t.Errorf("spiffe_refresh_hint=%d spiffe_sequence=%d, want 90 and 3", doc.RefreshHint, doc.Sequence)
	}
	if len(doc.Keys) != 1 || doc.Keys[0]["use"] != "x509-svid" {
		t.Errorf("keys = %v, want one x509-svid key", doc.Keys)
	}
	post, err := client.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST answered %d, want 405", post.StatusCode)
	}
}

func TestRefresherFollowsAnHTTPSWebPartnerAndKeepsTheLastGoodBundle(t *testing.T) {
	own := &ownBundle{}
	ca1, ca2 := newTestCA(t, partnerTD.Name()), newTestCA(t, partnerTD.Name())
	own.set(partnerTD.Name(), 1, ca1)
	url, pool, stopPartner := webPartner(t, own, time.Second)
	store := openStore(t)
	if _, err := store.CreateFederationRelationship(t.Context(), &datastore.FederationRelationship{
		TrustDomain: partnerTD.Name(), BundleEndpointURL: url, Profile: datastore.ProfileHTTPSWeb}, nil); err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	changes := make(chan struct{}, 100)
	runRefresher(t, RefresherConfig{Store: store, WebPKIRoots: pool, Log: slog.New(slog.NewTextHandler(logs, nil)),
		OnChange: func() { changes <- struct{}{} }})

	poll.Until(t, 20*time.Second, "the partner's bundle to be stored", func() bool { return storedCAs(t, store) == 1 })
	<-changes

	own.set(partnerTD.Name(), 2, ca1, ca2)
	poll.Until(t, 20*time.Second, "the partner's new CA to be fetched at its 1s refresh hint", func() bool { return storedCAs(t, store) == 2 })

	stopPartner()
	poll.Until(t, 20*time.Second, "a failed fetch", func() bool { return logs.Contains("keeping the last good one") })
	if n := storedCAs(t, store); n != 2 {
		t.Fatalf("after the partner went away the stored bundle has %d CAs, want the last good 2", n)
	}
}

func TestRefresherAuthenticatesHTTPSSPIFFEEndpoints(t *testing.T) {
	partnerCA := newTestCA(t, partnerTD.Name())
	serverID := "spiffe://partner.org/spire/server"
	own := &ownBundle{}
	own.set(partnerTD.Name(), 5, partnerCA)
	svid := partnerCA.leaf(t, serverID)
	e, err := NewEndpoint(EndpointConfig{TrustDomain: partnerTD, Bundles: own, RefreshHint: time.Minute,
		Profile: datastore.ProfileHTTPSSPIFFE, SVID: func() *tls.Certificate { return svid }})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveEndpoint(t, e)
	store := openStore(t)
	r := NewRefresher(RefresherConfig{Store: store})
	bootstrap := &datastore.Bundle{TrustDomain: partnerTD.Name(), X509Authorities: []datastore.X509Authority{{DER: partnerCA.cert.Raw}}}

	tests := []struct {
		name, endpointID string
		bootstrap        *datastore.Bundle
		wantErr          bool
	}{
		{"without a bootstrap bundle the endpoint cannot be authenticated", serverID, nil, true},
		{"an endpoint presenting another SPIFFE ID is refused", "spiffe://partner.org/someone-else", bootstrap, true},
		{"the expected SPIFFE ID, verified against the stored bundle, is accepted", serverID, bootstrap, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = store.DeleteFederationRelationship(t.Context(), partnerTD.Name())
			if _, err := store.CreateFederationRelationship(t.Context(), &datastore.FederationRelationship{
				TrustDomain: partnerTD.Name(), BundleEndpointURL: url, Profile: datastore.ProfileHTTPSSPIFFE,
				EndpointSPIFFEID: tt.endpointID}, tt.bootstrap); err != nil {
				t.Fatal(err)
			}
			err := r.RefreshBundle(t.Context(), partnerTD.Name())
			if (err != nil) != tt.wantErr {
				t.Fatalf("RefreshBundle error = %v, want error: %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				b, err := store.GetBundle(t.Context(), partnerTD.Name())
				if err != nil || b.RefreshHint != 60 {
					t.Fatalf("stored bundle %+v (err %v), want the fetched one with refresh hint 60", b, err)
				}
			}
		})
	}
}

func TestRefreshBundleWithoutARelationshipIsNotFound(t *testing.T) {
	r := NewRefresher(RefresherConfig{Store: openStore(t)})
	if err := r.RefreshBundle(t.Context(), "nobody.org"); !errors.Is(err, datastore.ErrNotFound) {
		t.Fatalf("error = %v, want ErrNotFound", err)
	}
}

func TestDeletingARelationshipStopsItsLoop(t *testing.T) {
	own := &ownBundle{}
	own.set(partnerTD.Name(), 1, newTestCA(t, partnerTD.Name()))
	url, pool, _ := webPartner(t, own, time.Second)
	store := openStore(t)
	if _, err := store.CreateFederationRelationship(t.Context(), &datastore.FederationRelationship{
		TrustDomain: partnerTD.Name(), BundleEndpointURL: url, Profile: datastore.ProfileHTTPSWeb}, nil); err != nil {
		t.Fatal(err)
	}
	r := runRefresher(t, RefresherConfig{Store: store, WebPKIRoots: pool})
	poll.Until(t, 20*time.Second, "the bundle to be stored", func() bool { return storedCAs(t, store) == 1 })
	if err := store.DeleteFederationRelationship(t.Context(), partnerTD.Name()); err != nil {
		t.Fatal(err)
	}
	r.Notify()
	poll.Until(t, 20*time.Second, "the loop to stop", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.loops) == 0
	})
	if n := storedCAs(t, store); n != 0 {
		t.Fatalf("the bundle came back after the relationship was deleted (%d CAs)", n)
	}
}

func TestLoadBundleFileReadsPEMAndSPIFFEDocuments(t *testing.T) {
	ca := newTestCA(t, partnerTD.Name())
	own := &ownBundle{}
	own.set(partnerTD.Name(), 1, ca)
	e := &Endpoint{cfg: EndpointConfig{TrustDomain: partnerTD, Bundles: own}}
	sb, err := e.GetBundleForTrustDomain(partnerTD)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pemDoc, err := sb.X509Bundle().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"bundle.json": doc, "bundle.pem": pemDoc, "garbage": []byte("hello")} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := LoadBundleFile(partnerTD, path)
		if name == "garbage" {
			if err == nil {
				t.Error("a garbage file loaded as a bundle")
			}
			continue
		}
		if err != nil || len(b.X509Authorities) != 1 {
			t.Errorf("%s: %+v, %v; want one X.509 authority", name, b, err)
		}
	}
}
