package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
)

// BenchmarkBatchCreate10kEntries creates 10,000 entries through the admin socket, in
// batches of 500 as the CLI sends them; one op is all 10,000.
func BenchmarkBatchCreate10kEntries(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ts := startServer(b, newConfig(b))
		parent := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/bench")
		batches := make([][]*types.Entry, 0, 20)
		for j := 0; j < 10000; j += 500 {
			batch := make([]*types.Entry, 0, 500)
			for k := j; k < j+500; k++ {
				batch = append(batch, entry(fmt.Sprintf("/w/%d", k), parent, fmt.Sprintf("unix:uid:%d", k)))
			}
			batches = append(batches, batch)
		}
		c := entryv1.NewEntryClient(ts.admin)
		b.StartTimer()
		for _, batch := range batches {
			resp, err := c.BatchCreateEntry(context.Background(), &entryv1.BatchCreateEntryRequest{Entries: batch, OutputMask: &types.EntryMask{}})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range resp.Results {
				if codes.Code(r.Status.Code) != codes.OK {
					b.Fatal(r.Status)
				}
			}
		}
		b.StopTimer()
		ts.stop()
	}
}

// BenchmarkBatchNewX509SVID measures signing through the agent API over mTLS: 500 CSRs
// per call, as agents send them; reported per SVID. Compare with BenchmarkRawCreateCertificate.
func BenchmarkBatchNewX509SVID(b *testing.B) {
	ts := startServer(b, newConfig(b))
	agent, agentID := ts.attestedAgent()
	res := ts.createEntries(entry("/bench", agentID, "unix:uid:1"))
	entryID := res[0].Entry.Id
	const batch = 500
	params := make([]*svidv1.NewX509SVIDParams, batch)
	for i := range params {
		params[i] = &svidv1.NewX509SVIDParams{EntryId: entryID, Csr: csrFor(b, "")}
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		resp, err := agent.SVID.BatchNewX509SVID(context.Background(), &svidv1.BatchNewX509SVIDRequest{Params: params[:n]})
		if err != nil {
			b.Fatal(err)
		}
		if codes.Code(resp.Results[0].Status.Code) != codes.OK {
			b.Fatal(resp.Results[0].Status)
		}
	}
}

// BenchmarkRawCreateCertificate is the baseline: x509.CreateCertificate with a P-256 CA
// key and an SVID-shaped template, nothing else.
func BenchmarkRawCreateCertificate(b *testing.B) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"bench"}},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse("spiffe://example.org/bench")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), URIs: []*url.URL{u},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		if _, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey); err != nil {
			b.Fatal(err)
		}
	}
}
