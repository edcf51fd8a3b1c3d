package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	durableBatch = 1000
	maxRequest   = 500 // entries per BatchCreateEntry request, as the CLI splits them
	writers      = 3
)

// writeBatches runs `entry create -data` with 1,000 new entries until it fails, recording
// the entries the server acknowledged and signalling each fully acknowledged batch.
func (d *domain) writeBatches(w int, mu *sync.Mutex, acked map[string]bool, batchDone chan<- struct{}) error {
	for b := 0; ; b++ {
		path := filepath.Join(d.dir, fmt.Sprintf("batch-%d-%d.json", w, b))
		data, err := protojson.Marshal(&entryv1.BatchCreateEntryRequest{Entries: durableEntries(fmt.Sprintf("w%d/b%d", w, b))})
		if err == nil {
			err = os.WriteFile(path, data, 0o600)
		}
		if err != nil {
			return err
		}
		out, runErr := run(d.t, "lanyard-server", 0, nil, "entry", "create", "-data", path, "-output", "json", "-socketPath", d.adminSock)
		// Whatever the outcome, the CLI prints the results the server sent.
		var resp entryv1.BatchCreateEntryResponse
		if strings.TrimSpace(out) != "" {
			if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
				return fmt.Errorf("writer %d batch %d: reading the CLI's output: %w\n%s", w, b, err, out)
			}
		}
		mu.Lock()
		for i, r := range resp.Results {
			if r.GetStatus().GetCode() != 0 {
				mu.Unlock()
				return fmt.Errorf("writer %d batch %d item %d: %v", w, b, i, r.GetStatus())
			}
			acked[r.GetEntry().GetId()] = true
		}
		mu.Unlock()
		if runErr != nil {
			return runErr
		}
		select {
		case batchDone <- struct{}{}:
		default:
		}
	}
}

func adminEntries(t *testing.T, sock string) entryv1.EntryClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return entryv1.NewEntryClient(conn)
}

// storedEntryIDs lists every entry the server at sock holds.
func storedEntryIDs(t *testing.T, sock string) map[string]bool {
	t.Helper()
	stored := map[string]bool{}
	list := adminEntries(t, sock)
	req := &entryv1.ListEntriesRequest{PageSize: 1000}
	for {
		resp, err := list.ListEntries(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.Entries {
			stored[e.Id] = true
		}
		if req.PageToken = resp.NextPageToken; req.PageToken == "" {
			return stored
		}
	}
}

func durableEntries(batch string) []*types.Entry {
	out := make([]*types.Entry, durableBatch)
	for i := range out {
		out[i] = &types.Entry{
			SpiffeId:  &types.SPIFFEID{TrustDomain: "durable.example", Path: fmt.Sprintf("/%s/e%d", batch, i)},
			ParentId:  &types.SPIFFEID{TrustDomain: "durable.example", Path: "/spire/agent/join_token/x"},
			Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", i)}},
		}
	}
	return out
}

// TestAcknowledgedEntriesSurviveKill9 writes 1,000-entry batches with the admin CLI (which
// sends them as requests of 500, the API's limit) without pause, kills the server with
// SIGKILL while it writes, restarts it and checks that every entry the API acknowledged is
// there and that no request was stored in part.
func TestAcknowledgedEntriesSurviveKill9(t *testing.T) {
	backends := []struct {
		name   string
		config func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", postgresConfig},
	}
	for _, backend := range backends {
		t.Run(backend.name, func(t *testing.T) {
			d := newDomainWith(t, "durable.example", backend.config(t))
			d.startServer()

			// Several writers keep a request in flight at almost any moment.
			var mu sync.Mutex
			acked := map[string]bool{}
			ackedBatches := make(chan struct{}, 100)
			writerDone := make(chan error, writers)
			for w := range writers {
				go func() { writerDone <- d.writeBatches(w, &mu, acked, ackedBatches) }()
			}
			for range writers {
				select {
				case <-ackedBatches:
				case err := <-writerDone:
					t.Fatalf("a writer stopped before the kill: %v", err)
				case <-time.After(120 * time.Second):
					t.Fatal("the first batches were not acknowledged within 120s")
				}
			}
			d.kill9()
			for range writers {
				if err := <-writerDone; err == nil {
					t.Fatal("a writer stopped without an error")
				}
			}
			// The writers have stopped: acked is no longer written.

			d.startServer()
			stored := storedEntryIDs(t, d.adminSock)
			for id := range acked {
				if !stored[id] {
					t.Fatalf("entry %s was acknowledged but is gone after kill -9 and restart (%d acknowledged, %d stored)",
						id, len(acked), len(stored))
				}
			}
			if len(stored)%maxRequest != 0 || len(stored) > len(acked)+writers*maxRequest {
				t.Fatalf("%d entries stored after %d acknowledged: a batch was stored in part", len(stored), len(acked))
			}
			t.Logf("%d entries acknowledged, %d stored (committed requests whose answer the kill cut off)", len(acked), len(stored))
		})
	}
}
