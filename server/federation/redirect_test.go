package federation

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func TestFetchFollowsOnlyRedirectsToValidBundleEndpointURLs(t *testing.T) {
	own := &ownBundle{}
	own.set(partnerTD.Name(), 1, newTestCA(t, partnerTD.Name()))
	partnerURL, pool, _ := webPartner(t, own, time.Minute)
	webCA := newTestCA(t, "redirector-ca.test")
	pool.AddCert(webCA.cert)
	redirector := func(target string, code int) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if target == "" {
				http.NotFound(w, r)
				return
			}
			http.Redirect(w, r, target, code)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*webCA.leaf(t, "", "127.0.0.1")}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL + "/bundle"
	}
	tests := []struct {
		name, url, wantErr string
	}{
		{"a temporary redirect to another https endpoint is followed", redirector(partnerURL, http.StatusTemporaryRedirect), ""},
		{"a redirect to plain http is refused", redirector("http://127.0.0.1:1/", http.StatusFound), "not a valid bundle endpoint URL"},
		{"a redirect to a URL with user info is refused", redirector("https://user@127.0.0.1:1/", http.StatusFound), "not a valid bundle endpoint URL"},
		{"a non-200 answer is reported with its status", redirector("", 0), "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := openStore(t)
			if _, err := store.CreateFederationRelationship(t.Context(), &datastore.FederationRelationship{
				TrustDomain: partnerTD.Name(), BundleEndpointURL: tt.url, Profile: datastore.ProfileHTTPSWeb}, nil); err != nil {
				t.Fatal(err)
			}
			err := NewRefresher(RefresherConfig{Store: store, WebPKIRoots: pool}).RefreshBundle(t.Context(), partnerTD.Name())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("RefreshBundle: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("RefreshBundle error = %v, want one saying %q", err, tt.wantErr)
			case tt.wantErr == "" && storedCAs(t, store) != 1:
				t.Fatal("the bundle fetched through the redirect was not stored")
			}
		})
	}
}
