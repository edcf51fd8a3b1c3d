package entry_test

import (
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

var node = spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/node1")

func code(s *types.Status) codes.Code { return codes.Code(s.GetCode()) }

func TestBatchCreateEntryAnswersEveryItemOnItsOwn(t *testing.T) {
	s := servertest.Start(t)
	c := entryv1.NewEntryClient(s.Admin)
	first := s.CreateEntries(s.Entry("/billing", node, "unix:uid:1000"))[0]
	// created_at comes from the datastore's own (real) clock, not the server's.
	if first.Id == "" || first.RevisionNumber != 0 || first.CreatedAt == 0 {
		t.Fatalf("created entry %v: want a fresh ID, revision 0, a creation time", first)
	}

	noSelectors := s.Entry("/nosel", node)
	federated := s.Entry("/fed", node, "unix:uid:1")
	federated.FederatesWith = []string{"nowhere.test"}
	resp, err := c.BatchCreateEntry(t.Context(), &entryv1.BatchCreateEntryRequest{
		Entries: []*types.Entry{
			s.Entry("/billing", node, "unix:uid:1000"), // the same as first
			noSelectors,
			s.Entry("/web", node, "unix:uid:33"),
			federated,
		},
		OutputMask: &types.EntryMask{SpiffeId: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if len(r) != 4 {
		t.Fatalf("%d results for 4 entries", len(r))
	}
	if code(r[0].Status) != codes.AlreadyExists || r[0].Entry.GetId() != first.Id {
		t.Fatalf("duplicate: %v %v; want AlreadyExists with the existing entry %s", r[0].Status, r[0].Entry, first.Id)
	}
	// spire-api-sdk: the entry is set only for OK and ALREADY_EXISTS.
	if code(r[1].Status) != codes.InvalidArgument || r[1].Entry != nil {
		t.Fatalf("entry without selectors: %v; want InvalidArgument and no entry", r[1])
	}
	if code(r[2].Status) != codes.OK || r[2].Entry.Id == "" || r[2].Entry.SpiffeId.Path != "/web" || r[2].Entry.ParentId != nil {
		t.Fatalf("valid entry with mask spiffe_id: %v; want OK, id and spiffe_id only", r[2])
	}
	if code(r[3].Status) != codes.FailedPrecondition || r[3].Entry != nil {
		t.Fatalf("entry federating with a trust domain without bundle: %v; want FailedPrecondition and no entry", r[3])
	}
	n, err := c.CountEntries(t.Context(), &entryv1.CountEntriesRequest{})
	if err != nil || n.Count != 2 {
		t.Fatalf("count %v %v; want the 2 created entries", n, err)
	}
}

func TestGetEntryReturnsTheMaskedEntryOrNotFound(t *testing.T) {
	s := servertest.Start(t)
	c := entryv1.NewEntryClient(s.Admin)
	e := s.Entry("/billing", node, "unix:uid:1000")
	e.DnsNames, e.Hint, e.X509SvidTtl = []string{"billing.example.org"}, "billing", 600
	created := s.CreateEntries(e)[0]

	got, err := c.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: created.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Hint != "billing" || got.X509SvidTtl != 600 || len(got.DnsNames) != 1 || got.ParentId.Path != node.Path() {
		t.Fatalf("GetEntry %v: want every field as created", got)
	}
	got, err = c.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: created.Id, OutputMask: &types.EntryMask{Hint: true}})
	if err != nil || got.Id != created.Id || got.Hint != "billing" || got.SpiffeId != nil || got.Selectors != nil {
		t.Fatalf("GetEntry with mask hint: %v %v; want id and hint only", got, err)
	}
	for name, tt := range map[string]struct {
		id   string
		want codes.Code
	}{
		"an unknown id": {"no-such-entry", codes.NotFound},
		"no id":         {"", codes.InvalidArgument},
	} {
		if _, err := c.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: tt.id}); status.Code(err) != tt.want {
			t.Errorf("%s: %v; want %s", name, err, tt.want)
		}
	}
}

func TestBatchUpdateEntryChangesOnlyTheMaskedFields(t *testing.T) {
	s := servertest.Start(t)
	c := entryv1.NewEntryClient(s.Admin)
	e := s.Entry("/billing", node, "unix:uid:1000")
	e.Hint = "before"
	created := s.CreateEntries(e, s.Entry("/web", node, "unix:uid:33"))

	change := s.Entry("/renamed", node, "unix:uid:2000")
	change.Id, change.Hint = created[0].Id, "after"
	missing := s.Entry("/x", node, "unix:uid:1")
	missing.Id = "no-such-entry"
	resp, err := c.BatchUpdateEntry(t.Context(), &entryv1.BatchUpdateEntryRequest{
		Entries:    []*types.Entry{change, missing, s.Entry("/noid", node, "unix:uid:1")},
		InputMask:  &types.EntryMask{Hint: true, Selectors: true},
		OutputMask: &types.EntryMask{Hint: true, SpiffeId: true, Selectors: true, RevisionNumber: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if code(r[0].Status) != codes.OK {
		t.Fatalf("update: %v", r[0].Status)
	}
	if got := r[0].Entry; got.Hint != "after" || got.SpiffeId.Path != "/billing" || got.Selectors[0].Value != "uid:2000" || got.RevisionNumber != 1 {
		t.Fatalf("updated entry %v: want the new hint and selectors, the old SPIFFE ID (not in the mask), revision 1", got)
	}
	if code(r[1].Status) != codes.NotFound {
		t.Fatalf("update of an unknown entry: %v; want NotFound", r[1].Status)
	}
	if code(r[2].Status) != codes.InvalidArgument {
		t.Fatalf("update without id: %v; want InvalidArgument", r[2].Status)
	}

	// Without an input mask every field is replaced.
	all := s.Entry("/web2", node, "unix:uid:34")
	all.Id = created[1].Id
	resp, err = c.BatchUpdateEntry(t.Context(), &entryv1.BatchUpdateEntryRequest{Entries: []*types.Entry{all}})
	if err != nil || code(resp.Results[0].Status) != codes.OK || resp.Results[0].Entry.SpiffeId.Path != "/web2" {
		t.Fatalf("update without mask: %v %v; want every field replaced", resp, err)
	}
}

func TestBatchDeleteEntryAnswersPerIDAndRefusesAnEmptyOne(t *testing.T) {
	s := servertest.Start(t)
	c := entryv1.NewEntryClient(s.Admin)
	created := s.CreateEntries(s.Entry("/a", node, "unix:uid:1"), s.Entry("/b", node, "unix:uid:2"))

	resp, err := c.BatchDeleteEntry(t.Context(), &entryv1.BatchDeleteEntryRequest{Ids: []string{created[0].Id, "no-such-entry"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results; r[0].Id != created[0].Id || code(r[0].Status) != codes.OK || r[1].Id != "no-such-entry" || code(r[1].Status) != codes.NotFound {
		t.Fatalf("results %v; want OK for the existing entry, NotFound for the unknown one, each with its id", r)
	}
	if _, err := c.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: created[0].Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted entry still found: %v", err)
	}
	if _, err := c.BatchDeleteEntry(t.Context(), &entryv1.BatchDeleteEntryRequest{Ids: []string{created[1].Id, ""}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("batch with an empty id: %v; want InvalidArgument", err)
	}
	if _, err := c.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: created[1].Id}); err != nil {
		t.Fatalf("an invalid batch deleted an entry: %v", err)
	}
	resp, err = c.BatchDeleteEntry(t.Context(), &entryv1.BatchDeleteEntryRequest{})
	if err != nil || len(resp.Results) != 0 {
		t.Fatalf("empty batch: %v %v", resp, err)
	}
}

// An admin X.509-SVID is an administrator's only while its admin entry is unexpired.
func TestAnAdminSVIDLosesItsRightsWithItsEntry(t *testing.T) {
	s := servertest.Start(t)
	admin := s.AdminPeer("/ops")
	c := entryv1.NewEntryClient(admin.Conn)
	list, err := entryv1.NewEntryClient(s.Admin).ListEntries(t.Context(), &entryv1.ListEntriesRequest{})
	if err != nil || len(list.Entries) != 1 {
		t.Fatalf("entries %v %v; want the admin entry", list, err)
	}
	adminEntry := list.Entries[0]
	adminEntry.ExpiresAt = s.Clock.Now().Add(10 * time.Minute).Unix()
	upd, err := entryv1.NewEntryClient(s.Admin).BatchUpdateEntry(t.Context(), &entryv1.BatchUpdateEntryRequest{
		Entries: []*types.Entry{adminEntry}, InputMask: &types.EntryMask{ExpiresAt: true}})
	if err != nil || code(upd.Results[0].Status) != codes.OK {
		t.Fatalf("setting the admin entry's expiry: %v %v", upd, err)
	}
	if _, err := c.CountEntries(t.Context(), &entryv1.CountEntriesRequest{}); err != nil {
		t.Fatalf("admin SVID while its entry is valid: %v", err)
	}
	// At its expires_at second the entry is expired, as an SVID is at its NotAfter.
	s.Clock.Step(10 * time.Minute)
	if _, err := c.CountEntries(t.Context(), &entryv1.CountEntriesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin SVID after its entry expired: %v; want PermissionDenied", err)
	}
}

func TestOneBatchIsAppliedInOrder(t *testing.T) {
	s := servertest.Start(t)
	c := entryv1.NewEntryClient(s.Admin)
	custom := s.Entry("/c", node, "unix:uid:9")
	custom.Id = "entry-0001" // SPIRE lets the caller choose the ID
	resp, err := c.BatchCreateEntry(t.Context(), &entryv1.BatchCreateEntryRequest{Entries: []*types.Entry{
		s.Entry("/x", node, "unix:uid:1"), s.Entry("/x", node, "unix:uid:1"), custom,
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if code(r[0].Status) != codes.OK || code(r[1].Status) != codes.AlreadyExists || r[1].Entry.GetId() != r[0].Entry.GetId() {
		t.Fatalf("the same entry twice in one batch: %v, %v; want OK, then AlreadyExists naming the first", r[0], r[1])
	}
	if code(r[2].Status) != codes.OK || r[2].Entry.Id != "entry-0001" {
		t.Fatalf("entry with a chosen ID: %v; want it kept", r[2])
	}
	del, err := c.BatchDeleteEntry(t.Context(), &entryv1.BatchDeleteEntryRequest{Ids: []string{"entry-0001", "entry-0001"}})
	if err != nil || code(del.Results[0].Status) != codes.OK || code(del.Results[1].Status) != codes.NotFound {
		t.Fatalf("deleting one ID twice in a batch: %v %v; want OK, then NotFound", del, err)
	}
}
