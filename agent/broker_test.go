package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	brokerv1 "github.com/spiffe/go-spiffe/v2/exp/proto/spiffe/broker"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanyard-dev/lanyard/agent/broker"
	"github.com/lanyard-dev/lanyard/agent/config"
)

// brokerConn dials the agent's Broker Endpoint over mutual TLS as go-spiffe does,
// presenting this process's SVID named id and accepting only the agent's own ID.
func (a *runningAgent) brokerConn(t *testing.T, id string, agentID spiffeid.ID) (brokerv1.APIClient, *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	x, err := workloadapi.FetchX509Context(ctx, workloadapi.WithAddr("unix://"+a.cfg.SocketPath))
	if err != nil {
		t.Fatal(err)
	}
	var svid *x509svid.SVID
	for _, s := range x.SVIDs {
		if s.ID.Path() == id {
			svid = s
		}
	}
	if svid == nil {
		t.Fatalf("this process holds no SVID %s", id)
	}
	tlsCfg := tlsconfig.MTLSClientConfig(svid, x.Bundles, tlsconfig.AuthorizeID(agentID))
	conn, err := grpc.NewClient("unix://"+a.cfg.BrokerAPI.SocketPath, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	return brokerv1.NewAPIClient(conn), conn
}

// withBrokerAPI serves the Broker API on a temporary socket to the broker
// spiffe://<td>/broker.
func withBrokerAPI(t *testing.T, cfg *config.Config) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lanyard-broker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.BrokerAPI = &config.BrokerAPI{SocketPath: filepath.Join(dir, "api.sock"), AuthorizedBrokers: []string{"spiffe://" + testTD + "/broker"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// subscribeWeb opens a SubscribeToX509SVID stream for ref and checks that its first
// answer holds web's X.509-SVID alone.
func subscribeWeb(ctx context.Context, t *testing.T, c brokerv1.APIClient, ref *brokerv1.WorkloadReference) (grpc.ServerStreamingClient[brokerv1.SubscribeToX509SVIDResponse], *brokerv1.SubscribeToX509SVIDResponse) {
	t.Helper()
	stream, err := c.SubscribeToX509SVID(ctx, &brokerv1.SubscribeToX509SVIDRequest{Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Svids) != 1 || resp.Svids[0].SpiffeId != "spiffe://"+testTD+"/web" {
		t.Fatalf("X.509-SVIDs for the workload: %v, want only web's", resp.Svids)
	}
	return stream, resp
}

func pidRef(t *testing.T, pid int) *brokerv1.WorkloadReference {
	t.Helper()
	ref, err := anypb.New(&brokerv1.WorkloadPIDReference{Pid: int32(pid)})
	if err != nil {
		t.Fatal(err)
	}
	return &brokerv1.WorkloadReference{Reference: ref}
}

// reason returns the google.rpc.ErrorInfo reason of err.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}

// TestBrokerAPIActsForReferencedProcesses drives the SPIFFE Broker API with go-spiffe's
// generated client over mutual TLS: a caller whose SPIFFE ID is not an authorized broker
// gets PermissionDenied, a request without broker.spiffe.io: true InvalidArgument; an
// authorized broker referencing a real process by PID gets its X.509-SVIDs (never an admin
// entry's), JWT-SVIDs and bundles, NotFound once the process exits, and
// WORKLOAD_NOT_ENTITLED for a process without entries.
func TestBrokerAPIActsForReferencedProcesses(t *testing.T) {
	const uid = 1005
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	withBrokerAPI(t, &cfg)
	e.entry("not-a-broker", agentID, 0)
	e.createEntries(agentID, workloadEntry("web", uid), workloadEntry("web-admin", uid, func(en *types.Entry) { en.Admin = true }))
	a := e.startAgent(cfg)
	a.servesID(t, "not-a-broker")
	proc := startAsUser(t, uid)
	ctx := metadata.AppendToOutgoingContext(t.Context(), broker.SecurityHeader, "true")

	c, conn := a.brokerConn(t, "/not-a-broker", agentID)
	_, err := c.FetchJWTSVID(ctx, &brokerv1.FetchJWTSVIDRequest{Reference: pidRef(t, proc.Process.Pid), Audience: []string{"a"}})
	wantCode(t, "a caller that is not an authorized broker", codes.PermissionDenied, err)
	conn.Close()

	e.entry("broker", agentID, 0)
	a.servesID(t, "broker")
	c, conn = a.brokerConn(t, "/broker", agentID)
	_, err = c.FetchJWTSVID(t.Context(), &brokerv1.FetchJWTSVIDRequest{Reference: pidRef(t, proc.Process.Pid), Audience: []string{"a"}})
	wantCode(t, "a request without the security header", codes.InvalidArgument, err)
	k8sRef := podRef(t, "pods", "", "", "8e0f3f5a-7c1d-4a55-9d1e-5b8f0c2a9e11")
	_, err = c.FetchJWTSVID(ctx, &brokerv1.FetchJWTSVIDRequest{Reference: k8sRef, Audience: []string{"a"}})
	if status.Code(err) != codes.InvalidArgument || reason(err) != "WORKLOAD_REFERENCE_INVALID" {
		t.Fatalf("a pod reference to an agent without the k8s attestor: %v (reason %q), want InvalidArgument WORKLOAD_REFERENCE_INVALID", err, reason(err))
	}

	stream, resp := subscribeWeb(ctx, t, c, pidRef(t, proc.Process.Pid))
	if _, err := x509svid.ParseRaw(resp.Svids[0].X509Svid, resp.Svids[0].X509SvidKey); err != nil || len(resp.Svids[0].Bundle) == 0 {
		t.Fatalf("web's X.509-SVID: %v", err)
	}

	jwts, err := c.FetchJWTSVID(ctx, &brokerv1.FetchJWTSVIDRequest{Reference: pidRef(t, proc.Process.Pid), Audience: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(jwts.Svids) != 1 || jwts.Svids[0].SpiffeId != "spiffe://"+testTD+"/web" {
		t.Fatalf("JWT-SVIDs: %v", jwts.Svids)
	}
	if tok, err := jwtsvid.ParseInsecure(jwts.Svids[0].Svid, []string{"a", "b"}); err != nil || tok.ID.Path() != "/web" {
		t.Fatalf("web's JWT-SVID: %v", err)
	}
	xb, err := c.SubscribeToX509Bundles(ctx, &brokerv1.SubscribeToX509BundlesRequest{Reference: pidRef(t, proc.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := xb.Recv(); err != nil || len(m.Bundles["spiffe://"+testTD]) == 0 {
		t.Fatalf("X.509 bundles: %v", err)
	}
	jb, err := c.SubscribeToJWTBundles(ctx, &brokerv1.SubscribeToJWTBundlesRequest{Reference: pidRef(t, proc.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := jb.Recv(); err != nil || len(m.Bundles["spiffe://"+testTD]) == 0 {
		t.Fatalf("JWT bundles: %v", err)
	}

	stranger := startAsUser(t, uid+1)
	_, err = c.FetchJWTSVID(ctx, &brokerv1.FetchJWTSVIDRequest{Reference: pidRef(t, stranger.Process.Pid), Audience: []string{"a"}})
	if status.Code(err) != codes.PermissionDenied || reason(err) != "WORKLOAD_NOT_ENTITLED" {
		t.Fatalf("a process without entries: %v (reason %q), want PermissionDenied WORKLOAD_NOT_ENTITLED", err, reason(err))
	}

	_ = proc.Process.Kill()
	for err = nil; err == nil; { // until the stream ends
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.NotFound || reason(err) != "WORKLOAD_NOT_FOUND" {
		t.Fatalf("the stream after the process exited: %v (reason %q), want NotFound WORKLOAD_NOT_FOUND", err, reason(err))
	}
	conn.Close()
	e.shutdown(a)
}

// TestBrokerAPIStreamEndsWhenTheBrokersSVIDExpires: a stream lasts no longer than the
// X.509-SVID the broker presented at the handshake; past its expiry the broker gets
// Unauthenticated and reconnects with its renewed SVID.
func TestBrokerAPIStreamEndsWhenTheBrokersSVIDExpires(t *testing.T) {
	const uid = 1006
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	withBrokerAPI(t, &cfg)
	e.entry("broker", agentID, time.Hour)
	e.createEntries(agentID, workloadEntry("web", uid, func(en *types.Entry) { en.X509SvidTtl = int32((24 * time.Hour).Seconds()) }))
	a := e.startAgent(cfg)
	a.servesID(t, "broker")
	proc := startAsUser(t, uid)
	ctx := metadata.AppendToOutgoingContext(t.Context(), broker.SecurityHeader, "true")
	c, conn := a.brokerConn(t, "/broker", agentID)
	defer conn.Close()
	stream, _ := subscribeWeb(ctx, t, c, pidRef(t, proc.Process.Pid))
	a.clock.Step(61 * time.Minute) // past the broker's hour, within web's day
	var err error
	for err == nil { // until the stream ends
		_, err = stream.Recv()
	}
	wantCode(t, "the stream after the broker's SVID expired", codes.Unauthenticated, err)
	conn.Close()
	e.shutdown(a)
}
