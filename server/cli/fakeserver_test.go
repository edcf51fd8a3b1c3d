package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// fakeAdminServer is a test double standing in for lanyard-server at the process boundary:
// a real gRPC server on a temp unix socket serving the spire-api-sdk services from memory.
// It records every request so tests can check how flags became requests, and it enforces
// the server's batch limit and pages its lists in small pages to exercise the CLI's paging.
type fakeAdminServer struct {
	entryv1.UnimplementedEntryServer
	agentv1.UnimplementedAgentServer
	bundlev1.UnimplementedBundleServer

	health *health.Server
	// pageSize caps every list page, whatever the client asks for.
	pageSize int

	mu        sync.Mutex
	calls     map[string][]proto.Message
	entries   []*types.Entry
	nextID    int
	agents    []*types.Agent
	tokens    int
	own       *types.Bundle
	federated map[string]*types.Bundle
}

const fakeTrustDomain = "example.org"

// startFakeAdminServer serves a fresh fake on a temp socket and returns it with the path.
func startFakeAdminServer(t *testing.T) (*fakeAdminServer, string) {
	t.Helper()
	// Not t.TempDir(): test names make it too long for the 108-byte unix socket limit.
	dir, err := os.MkdirTemp("", "lanyard-cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdminServer{
		health:    health.NewServer(),
		pageSize:  2,
		calls:     map[string][]proto.Message{},
		own:       &types.Bundle{TrustDomain: fakeTrustDomain},
		federated: map[string]*types.Bundle{},
	}
	g := grpc.NewServer()
	entryv1.RegisterEntryServer(g, f)
	agentv1.RegisterAgentServer(g, f)
	bundlev1.RegisterBundleServer(g, f)
	grpc_health_v1.RegisterHealthServer(g, f.health)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return f, sock
}

func (f *fakeAdminServer) record(method string, req proto.Message) {
	f.calls[method] = append(f.calls[method], proto.Clone(req))
}

// requests returns the recorded requests of one method, in call order.
func (f *fakeAdminServer) requests(method string) []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.calls[method]...)
}

func (f *fakeAdminServer) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += len(c)
	}
	return n
}

func (f *fakeAdminServer) addEntry(e *types.Entry) *types.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	e = proto.Clone(e).(*types.Entry)
	if e.Id == "" {
		f.nextID++
		e.Id = fmt.Sprintf("entry-%04d", f.nextID)
	}
	f.entries = append(f.entries, e)
	return e
}

func (f *fakeAdminServer) setOwnBundle(b *types.Bundle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.own = b
}

func (f *fakeAdminServer) addFederatedBundle(b *types.Bundle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.federated[b.TrustDomain] = b
}

func (f *fakeAdminServer) addAgent(a *types.Agent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents = append(f.agents, a)
}

func (f *fakeAdminServer) storedEntries() []*types.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*types.Entry(nil), f.entries...)
}

func (f *fakeAdminServer) storedAgents() []*types.Agent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*types.Agent(nil), f.agents...)
}

func (f *fakeAdminServer) federatedBundle(td string) *types.Bundle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.federated[td]
}

// page cuts items into the fake's pages; the token is the index of the next item.
func page[T any](f *fakeAdminServer, items []T, token string) ([]T, string, error) {
	start := 0
	if token != "" {
		var err error
		if start, err = strconv.Atoi(token); err != nil || start > len(items) {
			return nil, "", status.Errorf(codes.InvalidArgument, "bad page token %q", token)
		}
	}
	end := min(start+f.pageSize, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

func checkBatch(n int) error {
	if n > maxBatchSize {
		return status.Errorf(codes.InvalidArgument, "batch of %d items is over the limit of %d", n, maxBatchSize)
	}
	return nil
}

func sameSelectors(a, b []*types.Selector) bool {
	key := func(ss []*types.Selector) string {
		var out []string
		for _, s := range ss {
			out = append(out, selectorString(s))
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	return key(a) == key(b)
}

// Entry service.

func (f *fakeAdminServer) CountEntries(_ context.Context, req *entryv1.CountEntriesRequest) (*entryv1.CountEntriesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CountEntries", req)
	return &entryv1.CountEntriesResponse{Count: int32(len(f.entries))}, nil
}

func (f *fakeAdminServer) ListEntries(_ context.Context, req *entryv1.ListEntriesRequest) (*entryv1.ListEntriesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListEntries", req)
	var matched []*types.Entry
	for _, e := range f.entries {
		if by := req.GetFilter().GetBySpiffeId(); by != nil && !proto.Equal(by, e.SpiffeId) {
			continue
		}
		if by := req.GetFilter().GetByParentId(); by != nil && !proto.Equal(by, e.ParentId) {
			continue
		}
		matched = append(matched, e)
	}
	items, next, err := page(f, matched, req.PageToken)
	if err != nil {
		return nil, err
	}
	return &entryv1.ListEntriesResponse{Entries: items, NextPageToken: next}, nil
}

func (f *fakeAdminServer) GetEntry(_ context.Context, req *entryv1.GetEntryRequest) (*types.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("GetEntry", req)
	for _, e := range f.entries {
		if e.Id == req.Id {
			return e, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "entry %q not found", req.Id)
}

func (f *fakeAdminServer) BatchCreateEntry(_ context.Context, req *entryv1.BatchCreateEntryRequest) (*entryv1.BatchCreateEntryResponse, error) {
	f.mu.Lock()
	f.record("BatchCreateEntry", req)
	f.mu.Unlock()
	if err := checkBatch(len(req.Entries)); err != nil {
		return nil, err
	}
	resp := &entryv1.BatchCreateEntryResponse{}
	for _, in := range req.Entries {
		if st := f.validateNew(in); st != nil {
			resp.Results = append(resp.Results, &entryv1.BatchCreateEntryResponse_Result{Status: st})
			continue
		}
		stored := f.addEntry(in)
		resp.Results = append(resp.Results, &entryv1.BatchCreateEntryResponse_Result{Status: &types.Status{}, Entry: stored})
	}
	return resp, nil
}

func (f *fakeAdminServer) validateNew(in *types.Entry) *types.Status {
	if len(in.Selectors) == 0 {
		return &types.Status{Code: int32(codes.InvalidArgument), Message: "selectors: at least one is required"}
	}
	for _, e := range f.storedEntries() {
		if proto.Equal(e.SpiffeId, in.SpiffeId) && proto.Equal(e.ParentId, in.ParentId) && sameSelectors(e.Selectors, in.Selectors) {
			return &types.Status{Code: int32(codes.AlreadyExists), Message: "similar entry already exists"}
		}
	}
	return nil
}

func (f *fakeAdminServer) BatchUpdateEntry(_ context.Context, req *entryv1.BatchUpdateEntryRequest) (*entryv1.BatchUpdateEntryResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("BatchUpdateEntry", req)
	if err := checkBatch(len(req.Entries)); err != nil {
		return nil, err
	}
	resp := &entryv1.BatchUpdateEntryResponse{}
	for _, in := range req.Entries {
		res := &entryv1.BatchUpdateEntryResponse_Result{Status: &types.Status{Code: int32(codes.NotFound), Message: "entry not found"}}
		for i, e := range f.entries {
			if e.Id == in.Id {
				updated := proto.Clone(in).(*types.Entry)
				updated.RevisionNumber = e.RevisionNumber + 1
				f.entries[i] = updated
				res = &entryv1.BatchUpdateEntryResponse_Result{Status: &types.Status{}, Entry: updated}
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (f *fakeAdminServer) BatchDeleteEntry(_ context.Context, req *entryv1.BatchDeleteEntryRequest) (*entryv1.BatchDeleteEntryResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("BatchDeleteEntry", req)
	if err := checkBatch(len(req.Ids)); err != nil {
		return nil, err
	}
	resp := &entryv1.BatchDeleteEntryResponse{}
	for _, id := range req.Ids {
		res := &entryv1.BatchDeleteEntryResponse_Result{Id: id, Status: &types.Status{Code: int32(codes.NotFound), Message: "entry not found"}}
		for i, e := range f.entries {
			if e.Id == id {
				f.entries = append(f.entries[:i], f.entries[i+1:]...)
				res.Status = &types.Status{}
				break
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// Agent service.

func (f *fakeAdminServer) findAgent(id *types.SPIFFEID) (int, error) {
	for i, a := range f.agents {
		if proto.Equal(a.Id, id) {
			return i, nil
		}
	}
	return -1, status.Errorf(codes.NotFound, "agent %s not found", idString(id))
}

func (f *fakeAdminServer) ListAgents(_ context.Context, req *agentv1.ListAgentsRequest) (*agentv1.ListAgentsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListAgents", req)
	var matched []*types.Agent
	for _, a := range f.agents {
		if b := req.GetFilter().GetByBanned(); b != nil && a.Banned != b.Value {
			continue
		}
		matched = append(matched, a)
	}
	items, next, err := page(f, matched, req.PageToken)
	if err != nil {
		return nil, err
	}
	return &agentv1.ListAgentsResponse{Agents: items, NextPageToken: next}, nil
}

func (f *fakeAdminServer) CountAgents(_ context.Context, req *agentv1.CountAgentsRequest) (*agentv1.CountAgentsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CountAgents", req)
	return &agentv1.CountAgentsResponse{Count: int32(len(f.agents))}, nil
}

func (f *fakeAdminServer) GetAgent(_ context.Context, req *agentv1.GetAgentRequest) (*types.Agent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("GetAgent", req)
	i, err := f.findAgent(req.Id)
	if err != nil {
		return nil, err
	}
	return f.agents[i], nil
}

func (f *fakeAdminServer) DeleteAgent(_ context.Context, req *agentv1.DeleteAgentRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DeleteAgent", req)
	i, err := f.findAgent(req.Id)
	if err != nil {
		return nil, err
	}
	f.agents = append(f.agents[:i], f.agents[i+1:]...)
	return &emptypb.Empty{}, nil
}

func (f *fakeAdminServer) BanAgent(_ context.Context, req *agentv1.BanAgentRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("BanAgent", req)
	i, err := f.findAgent(req.Id)
	if err != nil {
		return nil, err
	}
	f.agents[i].Banned = true
	return &emptypb.Empty{}, nil
}

func (f *fakeAdminServer) CreateJoinToken(_ context.Context, req *agentv1.CreateJoinTokenRequest) (*types.JoinToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateJoinToken", req)
	if req.Ttl <= 0 {
		return nil, status.Error(codes.InvalidArgument, "ttl is required")
	}
	f.tokens++
	return &types.JoinToken{Value: fmt.Sprintf("token-%d", f.tokens), ExpiresAt: time.Now().Unix() + int64(req.Ttl)}, nil
}

// Bundle service.

func (f *fakeAdminServer) GetBundle(_ context.Context, req *bundlev1.GetBundleRequest) (*types.Bundle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("GetBundle", req)
	return f.own, nil
}

func (f *fakeAdminServer) sortedFederated() []*types.Bundle {
	var out []*types.Bundle
	for _, b := range f.federated {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TrustDomain < out[j].TrustDomain })
	return out
}

func (f *fakeAdminServer) ListFederatedBundles(_ context.Context, req *bundlev1.ListFederatedBundlesRequest) (*bundlev1.ListFederatedBundlesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListFederatedBundles", req)
	items, next, err := page(f, f.sortedFederated(), req.PageToken)
	if err != nil {
		return nil, err
	}
	return &bundlev1.ListFederatedBundlesResponse{Bundles: items, NextPageToken: next}, nil
}

func (f *fakeAdminServer) GetFederatedBundle(_ context.Context, req *bundlev1.GetFederatedBundleRequest) (*types.Bundle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("GetFederatedBundle", req)
	if b, ok := f.federated[req.TrustDomain]; ok {
		return b, nil
	}
	return nil, status.Errorf(codes.NotFound, "no federated bundle for %q", req.TrustDomain)
}

func (f *fakeAdminServer) CountBundles(_ context.Context, req *bundlev1.CountBundlesRequest) (*bundlev1.CountBundlesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CountBundles", req)
	return &bundlev1.CountBundlesResponse{Count: int32(1 + len(f.federated))}, nil
}

func (f *fakeAdminServer) BatchSetFederatedBundle(_ context.Context, req *bundlev1.BatchSetFederatedBundleRequest) (*bundlev1.BatchSetFederatedBundleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("BatchSetFederatedBundle", req)
	resp := &bundlev1.BatchSetFederatedBundleResponse{}
	for _, b := range req.Bundle {
		if b.TrustDomain == f.own.TrustDomain {
			resp.Results = append(resp.Results, &bundlev1.BatchSetFederatedBundleResponse_Result{
				Status: &types.Status{Code: int32(codes.InvalidArgument), Message: "cannot set the server's own bundle"},
			})
			continue
		}
		f.federated[b.TrustDomain] = b
		resp.Results = append(resp.Results, &bundlev1.BatchSetFederatedBundleResponse_Result{Status: &types.Status{}, Bundle: b})
	}
	return resp, nil
}

func (f *fakeAdminServer) BatchDeleteFederatedBundle(_ context.Context, req *bundlev1.BatchDeleteFederatedBundleRequest) (*bundlev1.BatchDeleteFederatedBundleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("BatchDeleteFederatedBundle", req)
	resp := &bundlev1.BatchDeleteFederatedBundleResponse{}
	for _, td := range req.TrustDomains {
		res := &bundlev1.BatchDeleteFederatedBundleResponse_Result{TrustDomain: td, Status: &types.Status{}}
		if _, ok := f.federated[td]; ok {
			delete(f.federated, td)
		} else {
			res.Status = &types.Status{Code: int32(codes.NotFound), Message: "bundle not found"}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
