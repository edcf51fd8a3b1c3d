package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
)

// otherUID gives background entries selectors no benchmark process matches.
func otherUID(i int) int { return 1_000_000 + i }

// selfUID makes entries match the benchmark process itself.
func selfUID(int) int { return os.Getuid() }

func (d *deployment) workloadClient(ctx context.Context) (*workloadapi.Client, error) {
	return workloadapi.New(ctx, workloadapi.WithAddr("unix://"+d.apiSock),
		workloadapi.WithDialOptions(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(workloadRecvLimit))))
}

// timeCreate is figure 1: seconds to create n entries on a fresh server.
func timeCreate(ctx context.Context, bin string, n int) (float64, error) {
	d, err := deploy(ctx, bin, false)
	if err != nil {
		return 0, err
	}
	defer d.close()
	parent := spiffeid.RequireFromPath(d.td, "/spire/agent/join_token/bench")
	start := time.Now()
	if err := d.createEntries(ctx, parent, "w", n, otherUID); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

type x509Watcher struct{ updates chan *workloadapi.X509Context }

func (w x509Watcher) OnX509ContextUpdate(c *workloadapi.X509Context) { w.updates <- c }
func (w x509Watcher) OnX509ContextWatchError(error)                  {}

// openStream opens a go-spiffe FetchX509Context stream for this process, after giving
// it one entry so the stream has an identity to start with.
func (d *deployment) openStream(ctx context.Context) (chan *workloadapi.X509Context, error) {
	if err := d.createEntries(ctx, d.agentID, "self", 1, selfUID); err != nil {
		return nil, err
	}
	c, err := d.workloadClient(ctx)
	if err != nil {
		return nil, err
	}
	updates := make(chan *workloadapi.X509Context, 1024)
	go func() {
		defer c.Close()
		_ = c.WatchX509Context(ctx, x509Watcher{updates})
	}()
	want := spiffeid.RequireFromPath(d.td, "/self/0")
	return updates, awaitID(ctx, updates, want, time.Minute)
}

func awaitID(ctx context.Context, updates chan *workloadapi.X509Context, id spiffeid.ID, within time.Duration) error {
	timeout := time.After(within)
	for {
		select {
		case u := <-updates:
			for _, s := range u.SVIDs {
				if s.ID == id {
					return nil
				}
			}
		case <-timeout:
			return fmt.Errorf("%s did not arrive on the stream within %s", id, within)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// propagation is figure 2: for each of samples new entries, the time from sending the
// create call to its SVID arriving on the already-open stream.
func propagation(ctx context.Context, d *deployment, updates chan *workloadapi.X509Context, round, samples int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, samples)
	for i := 0; i < samples; i++ {
		prefix := fmt.Sprintf("prop%d-%d", round, i)
		start := time.Now()
		if err := d.createEntries(ctx, d.agentID, prefix, 1, selfUID); err != nil {
			return nil, err
		}
		if err := awaitID(ctx, updates, spiffeid.RequireFromPath(d.td, "/"+prefix+"/0"), time.Minute); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// throughput is figure 3: conc go-spiffe clients calling the Workload API back to back
// for dur, in a process of their own (this binary in load-client mode) so that the
// harness's own memory and goroutines do not slow them. It returns calls per second and
// every call's latency.
func throughput(ctx context.Context, d *deployment, conc int, dur time.Duration, kind string) (float64, []time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, nil, err
	}
	args := []string{loadClientFlag, "-socket", d.apiSock, "-conc", strconv.Itoa(conc), "-duration", dur.String(), "-kind", kind}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, nil, fmt.Errorf("load client: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res loadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return 0, nil, fmt.Errorf("load client output: %w", err)
	}
	lat := make([]time.Duration, len(res.LatenciesNS))
	for i, ns := range res.LatenciesNS {
		lat[i] = time.Duration(ns)
	}
	return res.Rate, lat, nil
}

const loadClientFlag = "-load-client"

type loadResult struct {
	Rate        float64 `json:"rate"`
	LatenciesNS []int64 `json:"latencies_ns"`
}

// loadClient is the load-client mode: it runs the clients and prints a loadResult.
func loadClient(args []string) error {
	fs := flag.NewFlagSet("load-client", flag.ContinueOnError)
	sock := fs.String("socket", "", "Workload API socket")
	conc := fs.Int("conc", 1, "clients")
	dur := fs.Duration("duration", time.Second, "how long")
	kind := fs.String("kind", "x509", "x509 (FetchX509SVID), jwt (FetchJWTSVID) or wit (FetchWITSVID)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	d := &deployment{apiSock: *sock}
	rate, lat, err := load(ctx, d, *conc, *dur, *kind)
	if err != nil {
		return err
	}
	res := loadResult{Rate: rate, LatenciesNS: make([]int64, len(lat))}
	for i, l := range lat {
		res.LatenciesNS[i] = int64(l)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// load runs conc clients back to back for dur.
func load(ctx context.Context, d *deployment, conc int, dur time.Duration, kind string) (float64, []time.Duration, error) {
	clients := make([]*workloadapi.Client, conc)
	for i := range clients {
		c, err := d.workloadClient(ctx)
		if err != nil {
			return 0, nil, err
		}
		defer c.Close()
		clients[i] = c
	}
	call := func(c *workloadapi.Client) error {
		var err error
		switch kind {
		case "jwt":
			_, err = c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "bench"})
		case "wit":
			_, err = c.FetchWITSVID(ctx, "")
		default:
			_, err = c.FetchX509SVID(ctx)
		}
		return err
	}
	for _, c := range clients { // warm up: connections, the agent's JWT cache, its first WIT-SVID
		if err := warmUp(ctx, func() error { return call(c) }); err != nil {
			return 0, nil, err
		}
	}
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var err error
			for time.Now().Before(deadline) {
				t := time.Now()
				if err = call(c); err != nil {
					break
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return float64(len(all)) / elapsed.Seconds(), all, firstErr
}

// fullFetch is figure 4: a new client's first FetchX509SVID response must hold all n SVIDs.
func fullFetch(ctx context.Context, d *deployment, n int) (time.Duration, error) {
	start := time.Now()
	c, err := d.workloadClient(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	svids, err := c.FetchX509SVIDs(ctx)
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	if len(svids) < n {
		return 0, fmt.Errorf("first response had %d SVIDs, want %d", len(svids), n)
	}
	return took, nil
}

// signingRate is figure 5: SVIDs per second signed by the server through
// BatchNewX509SVID (500 CSRs a call, as agents send them), over mTLS as an agent.
func signingRate(ctx context.Context, d *deployment, count int) (float64, error) {
	c, agentID, err := d.attestInProcess(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := d.createEntries(ctx, agentID, "signing", 1, otherUID); err != nil {
		return 0, err
	}
	entries, err := c.Entry.GetAuthorizedEntries(ctx, &entryv1.GetAuthorizedEntriesRequest{})
	if err != nil || len(entries.Entries) == 0 {
		return 0, errors.Join(errors.New("signing entry not authorized for the benchmark agent"), err)
	}
	entryID := entries.Entries[0].Id
	params := make([]*svidv1.NewX509SVIDParams, count)
	for i := range params {
		_, csr, err := attest.NewKeyAndCSR(spiffeid.ID{})
		if err != nil {
			return 0, err
		}
		params[i] = &svidv1.NewX509SVIDParams{EntryId: entryID, Csr: csr}
	}
	start := time.Now()
	for i := 0; i < count; i += 500 {
		resp, err := c.SVID.BatchNewX509SVID(ctx, &svidv1.BatchNewX509SVIDRequest{Params: params[i:min(count, i+500)]})
		if err != nil {
			return 0, err
		}
		for _, r := range resp.Results {
			if codes.Code(r.Status.Code) != codes.OK {
				return 0, fmt.Errorf("signing: %s", r.Status.Message)
			}
		}
	}
	return float64(count) / time.Since(start).Seconds(), nil
}

// attestInProcess attests this process as a second agent with a fresh join token.
func (d *deployment) attestInProcess(ctx context.Context) (*client.Client, spiffeid.ID, error) {
	tok, err := agentv1.NewAgentClient(d.admin).CreateJoinToken(ctx, &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		return nil, spiffeid.ID{}, err
	}
	pb, err := bundlev1.NewBundleClient(d.admin).GetBundle(ctx, &bundlev1.GetBundleRequest{})
	if err != nil {
		return nil, spiffeid.ID{}, err
	}
	var cas []*x509.Certificate
	for _, a := range pb.X509Authorities {
		cert, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			return nil, spiffeid.ID{}, err
		}
		cas = append(cas, cert)
	}
	id := client.NewIdentity(d.td)
	id.SetBundle(x509bundle.FromX509Authorities(d.td, cas))
	addr := fmt.Sprintf("127.0.0.1:%d", d.serverPort)
	boot, err := client.Dial([]string{addr}, id)
	if err != nil {
		return nil, spiffeid.ID{}, err
	}
	res, err := attest.Attest(ctx, boot.Agent, jointoken.Prover{Token: tok.Value})
	boot.Close()
	if err != nil {
		return nil, spiffeid.ID{}, err
	}
	id.SetSVID(res.Chain, res.Key)
	c, err := client.Dial([]string{addr}, id)
	return c, res.ID, err
}

// rawSigningRate is the baseline for figure 5: x509.CreateCertificate in a loop with a
// P-256 CA key (the server's default) and an SVID-shaped template, nothing else.
func rawSigningRate(count int) (float64, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"bench"}},
		NotBefore: now, NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return 0, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return 0, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	u := &url.URL{Scheme: "spiffe", Host: benchTD, Path: "/raw"}
	start := time.Now()
	for i := 0; i < count; i++ {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), URIs: []*url.URL{u},
			NotBefore: now, NotAfter: now.Add(time.Hour), BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		if _, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey); err != nil {
			return 0, err
		}
	}
	return float64(count) / time.Since(start).Seconds(), nil
}

// warmUp makes the first call, retrying for a while: the agent mints an entry's WIT-SVID
// just after its X.509-SVID, which the deployment waited for.
func warmUp(ctx context.Context, call func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
