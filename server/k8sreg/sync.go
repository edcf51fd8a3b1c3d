package k8sreg

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// templateStats is an IdentityTemplate's status.
type templateStats struct {
	ObservedGeneration int64  `json:"observedGeneration"`
	PodsSelected       int64  `json:"podsSelected"`
	Entries            int64  `json:"entries"`
	RenderFailures     int64  `json:"renderFailures"`
	EntryFailures      int64  `json:"entryFailures"`
	Error              string `json:"error,omitempty"`
}

type desiredEntry struct {
	entry    *types.Entry
	template string
}

// batch is the most entries one API call carries (the entry API's limit).
const batch = 500

// listOwned returns the entries this controller created, by ID.
func (c *Controller) listOwned(ctx context.Context) (map[string]*types.Entry, error) {
	out := map[string]*types.Entry{}
	token := ""
	for {
		resp, err := c.cfg.Entries.ListEntries(ctx, &entryv1.ListEntriesRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("listing entries: %w", err)
		}
		for _, e := range resp.Entries {
			if strings.HasPrefix(e.Id, EntryIDPrefix) {
				out[e.Id] = e
			}
		}
		if token = resp.NextPageToken; token == "" {
			return out, nil
		}
	}
}

// apply creates, updates and deletes entries until existing matches desired. It returns
// the IDs whose write failed.
func (c *Controller) apply(ctx context.Context, desired map[string]*desiredEntry, existing map[string]*types.Entry) (map[string]bool, error) {
	var create, update []*types.Entry
	var del []string
	for id, d := range desired {
		cur, ok := existing[id]
		switch {
		case !ok:
			create = append(create, d.entry)
		case !sameEntry(cur, d.entry):
			update = append(update, d.entry)
		}
	}
	for id := range existing {
		if _, ok := desired[id]; !ok {
			del = append(del, id)
		}
	}
	failed := map[string]bool{}
	var errs []error
	for part := range slices.Chunk(create, batch) {
		resp, err := c.cfg.Entries.BatchCreateEntry(ctx, &entryv1.BatchCreateEntryRequest{Entries: part, OutputMask: &types.EntryMask{}})
		if err != nil {
			errs = append(errs, fmt.Errorf("creating entries: %w", err))
			continue
		}
		for i, r := range resp.Results {
			// Another server's controller may have created it a moment ago.
			if code := codes.Code(r.Status.GetCode()); code != codes.OK && code != codes.AlreadyExists {
				failed[part[i].Id] = true
				c.cfg.Log.Warn("creating registered pod entry failed", "entry_id", part[i].Id, "error", r.Status.GetMessage())
			}
		}
	}
	for part := range slices.Chunk(update, batch) {
		resp, err := c.cfg.Entries.BatchUpdateEntry(ctx, &entryv1.BatchUpdateEntryRequest{Entries: part, OutputMask: &types.EntryMask{}})
		if err != nil {
			errs = append(errs, fmt.Errorf("updating entries: %w", err))
			continue
		}
		for i, r := range resp.Results {
			if codes.Code(r.Status.GetCode()) != codes.OK {
				failed[part[i].Id] = true
				c.cfg.Log.Warn("updating registered pod entry failed", "entry_id", part[i].Id, "error", r.Status.GetMessage())
			}
		}
	}
	for part := range slices.Chunk(del, batch) {
		resp, err := c.cfg.Entries.BatchDeleteEntry(ctx, &entryv1.BatchDeleteEntryRequest{Ids: part})
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting entries: %w", err))
			continue
		}
		for _, r := range resp.Results {
			if code := codes.Code(r.Status.GetCode()); code != codes.OK && code != codes.NotFound {
				c.cfg.Log.Warn("deleting entry of a gone pod failed", "entry_id", r.Id, "error", r.Status.GetMessage())
			}
		}
	}
	if n := len(create) + len(update) + len(del); n > 0 {
		c.cfg.Log.Info("kubernetes registration synced", "created", len(create), "updated", len(update), "deleted", len(del), "failed", len(failed))
	}
	return failed, errors.Join(errs...)
}

// sameEntry compares the fields the controller sets.
func sameEntry(a, b *types.Entry) bool {
	return a.GetSpiffeId().GetPath() == b.GetSpiffeId().GetPath() &&
		a.GetParentId().GetPath() == b.GetParentId().GetPath() &&
		slices.Equal(selectorStrings(a.Selectors), selectorStrings(b.Selectors)) &&
		a.X509SvidTtl == b.X509SvidTtl && a.JwtSvidTtl == b.JwtSvidTtl &&
		slices.Equal(sorted(a.FederatesWith), sorted(b.FederatesWith)) &&
		slices.Equal(sorted(a.DnsNames), sorted(b.DnsNames)) &&
		a.Hint == b.Hint && a.Admin == b.Admin && a.Downstream == b.Downstream
}

func selectorStrings(sels []*types.Selector) []string {
	out := make([]string, len(sels))
	for i, s := range sels {
		out[i] = s.Type + ":" + s.Value
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// writeStatus records st on the template when it changed. A conflict (the object moved
// on) is left to the next pass, which sees the new object.
func (c *Controller) writeStatus(ctx context.Context, u *unstructured.Unstructured, st *templateStats) {
	st.ObservedGeneration = u.GetGeneration()
	want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return
	}
	cur, _, _ := unstructured.NestedMap(u.Object, "status")
	if reflect.DeepEqual(normalize(cur), normalize(want)) {
		return
	}
	obj := u.DeepCopy()
	obj.Object["status"] = want
	if _, err := c.cfg.Dynamic.Resource(GVR).UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		c.cfg.Log.Debug("updating IdentityTemplate status", "name", u.GetName(), "error", err)
	}
}

// normalize makes numbers from the API server (int64 or float64) and ours compare equal.
func normalize(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
