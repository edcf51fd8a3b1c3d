package federation

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

func TestHTTPSWebEndpointPicksUpARenewedCertificate(t *testing.T) {
	own := &ownBundle{}
	own.set(partnerTD.Name(), 1, newTestCA(t, partnerTD.Name()))
	webCA := newTestCA(t, "web-ca.test")
	dir := t.TempDir()
	first := webCA.leaf(t, "", "127.0.0.1")
	certFile, keyFile := writePEM(t, dir, first)
	e, err := NewEndpoint(EndpointConfig{TrustDomain: partnerTD, Bundles: own, Profile: datastore.ProfileHTTPSWeb, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveEndpoint(t, e)
	pool := x509.NewCertPool()
	pool.AddCert(webCA.cert)
	served := func() *x509.Certificate {
		// A new transport per call: no connection reuse hides a new certificate.
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0]
	}
	if !served().Equal(first.Leaf) {
		t.Fatal("the endpoint does not serve the certificate from cert_file")
	}
	renewed := webCA.leaf(t, "", "127.0.0.1")
	writePEM(t, dir, renewed)
	// Make the change visible even on file systems with coarse modification times.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 20*time.Second, "the renewed certificate to be served", func() bool { return served().Equal(renewed.Leaf) })
}
