package entrycache

import (
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/attestors"
	agentv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/api"
)

// AgentLookup identifies the agent calling Watch. Authentication is the caller's
// interceptor's job; the lookup returns gRPC status errors (e.g. PermissionDenied for a
// caller that is not an attested agent), which Watch returns unchanged.
type AgentLookup func(ctx context.Context) (agentID string, selectors []attestors.Selector, err error)

// BundleSource provides the bundles Watch pushes. Implementations must be safe for
// concurrent use; Bundle and FederatedBundles are called on every bundle signal by every
// stream, so they should answer from memory (server/bundlecache does), not the datastore.
type BundleSource interface {
	// Bundle returns the server's own trust domain bundle and its sequence number.
	Bundle(ctx context.Context) (*types.Bundle, uint64, error)
	// FederatedBundles returns the bundles of the given trust domains, skipping unknown ones.
	FederatedBundles(ctx context.Context, trustDomains []string) ([]*types.Bundle, error)
	// Subscribe returns a channel signalled (coalescing) after any bundle changed, and a
	// func that unsubscribes.
	Subscribe() (<-chan struct{}, func())
}

// WatchService implements agentv1.EntrySyncServer on top of a Cache.
type WatchService struct {
	agentv1.UnimplementedEntrySyncServer
	cache   *Cache
	lookup  AgentLookup
	bundles BundleSource
	log     *slog.Logger
	// resync returns the wait before a stream's next complete set.
	resync func() time.Duration
}

// NewWatchService returns the EntrySync service. Each Watch stream sends the agent's
// complete set, then only changes as the cache or the bundles change, and a complete set
// again about every FullResyncInterval of the cache (jittered, so that agents connected
// together do not resync together).
func NewWatchService(cache *Cache, lookup AgentLookup, bundles BundleSource, log *slog.Logger) agentv1.EntrySyncServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := cache.cfg.FullResyncInterval
	return &WatchService{cache: cache, lookup: lookup, bundles: bundles, log: log,
		resync: func() time.Duration { return every - every/10 + rand.N(every/5+1) }}
}

// Watch implements agentv1.EntrySyncServer. The agent's selectors are read once: an agent
// re-attests by opening a new stream.
func (s *WatchService) Watch(_ *agentv1.WatchRequest, stream agentv1.EntrySync_WatchServer) error {
	ctx := stream.Context()
	agentID, selectors, err := s.lookup(ctx)
	if err != nil {
		return err
	}
	// Subscribe before the first computation so that no change falls between the two.
	entrySignal, stopEntries := s.cache.Subscribe()
	defer stopEntries()
	bundleSignal, stopBundles := s.bundles.Subscribe()
	defer stopBundles()

	w := &watcher{svc: s, stream: stream, agentID: agentID, selectors: selectors}
	if err := w.sendFull(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(s.resync())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-entrySignal:
			err = w.sendChanges(ctx, false)
		case <-bundleSignal:
			err = w.sendChanges(ctx, true)
		case <-timer.C:
			err = w.sendFull(ctx)
			timer.Reset(s.resync())
		}
		if err != nil {
			return err
		}
	}
}

// watcher is the state of one stream: what the agent has been sent.
type watcher struct {
	svc       *WatchService
	stream    agentv1.EntrySync_WatchServer
	agentID   string
	selectors []attestors.Selector

	sent      map[string]int64 // entry ID → revision the agent has
	bundleSeq uint64
	fedTDs    []string          // trust domains the sent entries federate with, sorted
	fedSeqs   map[string]uint64 // trust domain → sequence of the federated bundle sent
}

// sendFull sends the complete set with both bundles, replacing whatever the agent has.
func (w *watcher) sendFull(ctx context.Context) error {
	entries := w.svc.cache.AuthorizedEntries(w.agentID, w.selectors)
	first := &agentv1.WatchResponse{Full: true}
	bundle, seq, err := w.svc.bundles.Bundle(ctx)
	if err != nil {
		return bundleUnavailable(err)
	}
	first.Bundle, w.bundleSeq = bundle, seq
	w.fedTDs = federatedTrustDomains(entries)
	if err := w.setFederated(ctx, first); err != nil {
		return err
	}
	w.sent = make(map[string]int64, len(entries))
	out := &msgSender{send: w.stream.Send, cur: first}
	for _, e := range entries {
		w.sent[e.ID] = e.RevisionNumber
		if err := out.upsert(api.EntryToProto(e, nil)); err != nil {
			return err
		}
	}
	return out.close()
}

// sendChanges recomputes the agent's set and sends only what differs from what it has.
// Federated bundles are re-read only when the bundles changed or the entries now need
// other trust domains, so entry changes cost no bundle reads.
func (w *watcher) sendChanges(ctx context.Context, bundlesChanged bool) error {
	entries := w.svc.cache.AuthorizedEntries(w.agentID, w.selectors)
	head := &agentv1.WatchResponse{}
	if bundlesChanged {
		bundle, seq, err := w.svc.bundles.Bundle(ctx)
		if err != nil {
			return bundleUnavailable(err)
		}
		if seq != w.bundleSeq {
			head.Bundle, w.bundleSeq = bundle, seq
		}
	}
	if tds := federatedTrustDomains(entries); bundlesChanged || !slices.Equal(tds, w.fedTDs) {
		w.fedTDs = tds
		if err := w.setFederated(ctx, head); err != nil {
			return err
		}
	}
	var upserts []*types.Entry
	now := make(map[string]int64, len(entries))
	for _, e := range entries {
		now[e.ID] = e.RevisionNumber
		if rev, ok := w.sent[e.ID]; !ok || rev != e.RevisionNumber {
			upserts = append(upserts, api.EntryToProto(e, nil))
		}
	}
	var deleted []string
	for id := range w.sent {
		if _, ok := now[id]; !ok {
			deleted = append(deleted, id)
		}
	}
	w.sent = now
	if len(upserts) == 0 && len(deleted) == 0 && head.Bundle == nil && !head.FederatedBundlesSet {
		return nil
	}
	out := &msgSender{send: w.stream.Send, cur: head}
	for _, e := range upserts {
		if err := out.upsert(e); err != nil {
			return err
		}
	}
	if err := out.deleted(deleted); err != nil {
		return err
	}
	return out.close()
}

// setFederated puts the federated bundles of w.fedTDs into m when they differ from what the
// agent has.
func (w *watcher) setFederated(ctx context.Context, m *agentv1.WatchResponse) error {
	var bundles []*types.Bundle
	if len(w.fedTDs) > 0 {
		var err error
		if bundles, err = w.svc.bundles.FederatedBundles(ctx, w.fedTDs); err != nil {
			return bundleUnavailable(err)
		}
	}
	seqs := make(map[string]uint64, len(bundles))
	for _, b := range bundles {
		seqs[b.TrustDomain] = b.SequenceNumber
	}
	if m.Full || !maps.Equal(seqs, w.fedSeqs) {
		m.FederatedBundles, m.FederatedBundlesSet = bundles, true
		w.fedSeqs = seqs
	}
	return nil
}

func bundleUnavailable(err error) error {
	return status.Errorf(codes.Unavailable, "trust bundles unavailable, retry later: %v", err)
}
