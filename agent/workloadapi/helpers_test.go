package workloadapi

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	wlapi "github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/unix"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// selfUID is the selector the unix attestor gives this test process, the workload.
var selfUID = "uid:" + strconv.Itoa(os.Getuid())

// authority is a small in-test CA with a JWT signing key for one trust domain.
type authority struct {
	td     spiffeid.TrustDomain
	cert   *x509.Certificate
	key    crypto.Signer
	jwtKey *ecdsa.PrivateKey
	kid    string
	serial atomic.Int64
}

func newAuthority(t testing.TB, trustDomain spiffeid.TrustDomain) *authority {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: trustDomain.Name() + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		URIs: []*url.URL{trustDomain.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	jwtKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := &authority{td: trustDomain, cert: cert, key: key, jwtKey: jwtKey, kid: trustDomain.Name() + "-jwt"}
	a.serial.Store(100)
	return a
}

func (a *authority) bundle() *spiffebundle.Bundle {
	b := spiffebundle.FromX509Authorities(a.td, []*x509.Certificate{a.cert})
	_ = b.AddJWTAuthority(a.kid, a.jwtKey.Public())
	return b
}

func (a *authority) svid(t testing.TB, entryID, id string) *cache.X509SVID {
	t.Helper()
	sid := spiffeid.RequireFromString(id)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(a.serial.Add(1)), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{sid.URL()}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s, err := cache.NewX509SVID(entryID, sid, []*x509.Certificate{cert}, key, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwt signs a JWT-SVID for sub and audience.
func (a *authority) jwt(t testing.TB, sub string, audience []string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: a.jwtKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", a.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Subject: sub, Audience: audience, Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now()),
	}).Claims(map[string]any{"team": "payments"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// env is a running Workload API server over a real cache; the test process is the workload.
type env struct {
	t      testing.TB
	ca     *authority
	cache  *cache.Cache
	addr   string // SPIFFE_ENDPOINT_SOCKET form
	socket string
	reg    *prometheus.Registry
	mints  atomic.Int32
	stop   func() error

	mu       sync.Mutex
	spiffeOf map[string]string // entry ID → SPIFFE ID, for the JWT minter
}

type option func(*Config)

func start(t testing.TB, opts ...option) *env {
	t.Helper()
	e := &env{t: t, ca: newAuthority(t, td), reg: prometheus.NewRegistry(), spiffeOf: map[string]string{}}
	e.cache = cache.New(td, nil, nil)
	e.cache.SetBundle(e.ca.bundle())
	jwtCache := cache.NewJWTCache(func(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
		e.mints.Add(1)
		e.mu.Lock()
		sub := e.spiffeOf[entryID]
		e.mu.Unlock()
		exp := time.Now().Add(5 * time.Minute)
		return e.ca.jwt(t, sub, audience, exp), exp, nil
	}, nil)
	cfg := Config{
		Cache: e.cache, JWT: jwtCache, Registerer: e.reg,
		Attestors: []attestors.WorkloadAttestor{unix.New(unix.DefaultConfig())},
	}
	for _, o := range opts {
		o(&cfg)
	}
	// Socket paths are limited to ~108 bytes; t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "lwapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e.socket = filepath.Join(dir, "public", "api.sock")
	e.addr = "unix://" + e.socket

	srv := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, e.socket) }()
	var once sync.Once
	var serveErr error
	e.stop = func() error {
		once.Do(func() { cancel(); serveErr = <-errc })
		return serveErr
	}
	t.Cleanup(func() { _ = e.stop() })
	waitListening(t, e.socket, errc)
	return e
}

func waitListening(t testing.TB, socket string, errc chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-errc:
			t.Fatalf("Serve: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never listened on %s: %v", socket, err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// add puts an entry with an SVID in the cache.
func (e *env) add(entryID, spiffeID string, mod func(*cache.Entry), selectors ...string) *cache.Entry {
	e.t.Helper()
	ent := &cache.Entry{ID: entryID, SPIFFEID: spiffeID, ParentID: "spiffe://example.org/agent", RevisionNumber: 1}
	for _, s := range selectors {
		ent.Selectors = append(ent.Selectors, attestors.Selector{Type: "unix", Value: s})
	}
	if mod != nil {
		mod(ent)
	}
	e.mu.Lock()
	e.spiffeOf[entryID] = spiffeID
	e.mu.Unlock()
	e.cache.UpdateEntries([]*cache.Entry{ent}, nil, false)
	e.cache.UpdateSVIDs([]*cache.X509SVID{e.ca.svid(e.t, entryID, spiffeID)})
	return ent
}

func (e *env) client() *wlapi.Client {
	e.t.Helper()
	c, err := wlapi.New(context.Background(), wlapi.WithAddr(e.addr))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// watcher collects go-spiffe watch callbacks.
type watcher struct {
	updates chan *wlapi.X509Context
	errs    chan error
}

func newWatcher() *watcher {
	return &watcher{updates: make(chan *wlapi.X509Context, 100), errs: make(chan error, 100)}
}

func (w *watcher) OnX509ContextUpdate(c *wlapi.X509Context) { w.updates <- c }
func (w *watcher) OnX509ContextWatchError(err error)        { w.errs <- err }

func (w *watcher) next(t *testing.T) *wlapi.X509Context {
	t.Helper()
	select {
	case u := <-w.updates:
		return u
	case err := <-w.errs:
		t.Fatalf("watch error instead of an update: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no update")
	}
	return nil
}
