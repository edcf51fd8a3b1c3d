package manager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/poll"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// spireLikeServer stands in for a SPIRE server at the process boundary: a real gRPC
// server on a unix socket with the bundle and entry services and no push stream.
type spireLikeServer struct {
	bundlev1.UnimplementedBundleServer
	entryv1.UnimplementedEntryServer

	own   *types.Bundle
	entry *types.Entry
	mu    sync.Mutex
	fed   map[string]*types.Bundle
}

func (s *spireLikeServer) GetBundle(context.Context, *bundlev1.GetBundleRequest) (*types.Bundle, error) {
	return s.own, nil
}

func (s *spireLikeServer) GetFederatedBundle(_ context.Context, req *bundlev1.GetFederatedBundleRequest) (*types.Bundle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.fed[req.TrustDomain]; ok {
		return b, nil
	}
	return nil, status.Errorf(codes.NotFound, "no bundle for %s", req.TrustDomain)
}

func (s *spireLikeServer) GetAuthorizedEntries(context.Context, *entryv1.GetAuthorizedEntriesRequest) (*entryv1.GetAuthorizedEntriesResponse, error) {
	return &entryv1.GetAuthorizedEntriesResponse{Entries: []*types.Entry{s.entry}}, nil
}

func caBundle(t *testing.T, td string) *types.Bundle {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: td}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		URIs: []*url.URL{{Scheme: "spiffe", Host: td}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &types.Bundle{TrustDomain: td, X509Authorities: []*types.X509Certificate{{Asn1: der}}}
}

func TestPollingAgainstAServerWithoutThePushStreamFetchesFederatedBundles(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	partner := spiffeid.RequireTrustDomainFromString("partner.test")
	srv := &spireLikeServer{
		own: caBundle(t, td.Name()),
		entry: &types.Entry{Id: "e1", SpiffeId: &types.SPIFFEID{TrustDomain: td.Name(), Path: "/web"},
			ParentId:  &types.SPIFFEID{TrustDomain: td.Name(), Path: "/spire/agent/x"},
			Selectors: []*types.Selector{{Type: "unix", Value: "uid:1"}}, FederatesWith: []string{"spiffe://partner.test"}},
		fed: map[string]*types.Bundle{partner.Name(): caBundle(t, partner.Name())},
	}
	conn := serveUnix(t, func(g *grpc.Server) {
		bundlev1.RegisterBundleServer(g, srv)
		entryv1.RegisterEntryServer(g, srv)
	})
	c := &client.Client{Bundle: bundlev1.NewBundleClient(conn), Entry: entryv1.NewEntryClient(conn),
		SVID: svidv1.NewSVIDClient(conn), Sync: syncv1.NewEntrySyncClient(conn)}

	ch := cache.New(td, nil, nil)
	m := New(Config{TrustDomain: td, Client: func() *client.Client { return c }, Cache: ch,
		Log: slog.New(slog.DiscardHandler), PollInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	hasPartner := func() bool { _, fed := ch.Bundles(); return fed[partner] != nil }
	poll.Until(t, 20*time.Second, "the partner's bundle", hasPartner)
	srv.mu.Lock()
	delete(srv.fed, partner.Name())
	srv.mu.Unlock()
	poll.Until(t, 20*time.Second, "the partner's bundle to be dropped", func() bool { return !hasPartner() })
}

// serveUnix serves the services register adds on a temp unix socket and returns a client
// connection to it.
func serveUnix(t *testing.T, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	dir, err := os.MkdirTemp("", "lanyard-mgr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("unix://"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
