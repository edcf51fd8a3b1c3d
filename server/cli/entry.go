package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// listPageSize is how many items the CLI asks for per List* call while paging.
const listPageSize = 500

// entryResult is one item of a BatchCreate/BatchUpdate response.
type entryResult struct {
	status *types.Status
	entry  *types.Entry
}

// inBatches calls send with consecutive slices of at most maxBatchSize items.
func inBatches[T any](items []T, send func([]T) error) error {
	for start := 0; start < len(items); start += maxBatchSize {
		if err := send(items[start:min(start+maxBatchSize, len(items))]); err != nil {
			return err
		}
	}
	return nil
}

func entryCreate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("entry create")
	var f entryFlags
	f.register(fs, false)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	entries, err := f.entries(e, fs, false)
	if err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()

	all := &entryv1.BatchCreateEntryResponse{}
	var results []entryResult
	sendErr := inBatches(entries, func(batch []*types.Entry) error {
		resp, err := cl.entries.BatchCreateEntry(ctx, &entryv1.BatchCreateEntryRequest{Entries: batch})
		if err != nil {
			return rpcError("entry create", err)
		}
		if len(resp.Results) != len(batch) {
			return fmt.Errorf("entry create: server answered %d results for %d entries", len(resp.Results), len(batch))
		}
		all.Results = append(all.Results, resp.Results...)
		for _, r := range resp.Results {
			results = append(results, entryResult{r.Status, r.Entry})
		}
		return nil
	})
	return reportEntryResults(e, c, "entry create", entries, results, all, sendErr)
}

func entryUpdate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("entry update")
	var f entryFlags
	f.register(fs, true)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	entries, err := f.entries(e, fs, true)
	if err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()

	all := &entryv1.BatchUpdateEntryResponse{}
	var results []entryResult
	sendErr := inBatches(entries, func(batch []*types.Entry) error {
		// No input mask: every field is replaced, as in SPIRE, so an update given by flags
		// leaves no trace of the old entry's optional fields.
		resp, err := cl.entries.BatchUpdateEntry(ctx, &entryv1.BatchUpdateEntryRequest{Entries: batch})
		if err != nil {
			return rpcError("entry update", err)
		}
		if len(resp.Results) != len(batch) {
			return fmt.Errorf("entry update: server answered %d results for %d entries", len(resp.Results), len(batch))
		}
		all.Results = append(all.Results, resp.Results...)
		for _, r := range resp.Results {
			results = append(results, entryResult{r.Status, r.Entry})
		}
		return nil
	})
	return reportEntryResults(e, c, "entry update", entries, results, all, sendErr)
}

// reportEntryResults prints what a batch of creates or updates did: the entries that
// succeeded on stdout, one error line per failed entry on stderr. Results received before
// a failed call are still printed so the user knows what was already applied.
func reportEntryResults(e *env, c *common, cmd string, sent []*types.Entry, results []entryResult, all proto.Message, sendErr error) error {
	if c.output == "json" {
		if err := printJSON(e, all); err != nil {
			return err
		}
	} else {
		first := true
		for _, r := range results {
			if itemFailed(r.status) || r.entry == nil {
				continue
			}
			if !first {
				fmt.Fprintln(e.stdout)
			}
			first = false
			printEntry(e.stdout, r.entry)
		}
	}
	failed := 0
	for i, r := range results {
		if itemFailed(r.status) {
			fmt.Fprintf(e.stderr, "Error: %s: %s: %s\n", cmd, describeEntry(sent[i]), itemError(r.status))
			failed++
		}
	}
	if sendErr != nil {
		if len(results) > 0 {
			return fmt.Errorf("%w (the first %d entries were already sent)", sendErr, len(results))
		}
		return sendErr
	}
	if failed > 0 {
		return errReported
	}
	return nil
}

func entryShow(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("entry show")
	var f entryFilterFlags
	f.register(fs)
	entryID := fs.String("entryID", "", "show only the entry with this ID")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	filter, err := f.filter(fs)
	if err != nil {
		return err
	}
	if *entryID != "" {
		if name, ok := onlyFlags(fs, "entryID"); !ok {
			return fmt.Errorf("-entryID cannot be combined with -%s: an ID already names one entry", name)
		}
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()

	var entries []*types.Entry
	if *entryID != "" {
		entry, err := cl.entries.GetEntry(ctx, &entryv1.GetEntryRequest{Id: *entryID})
		if err != nil {
			return rpcError("entry show "+*entryID, err)
		}
		entries = []*types.Entry{entry}
	} else if entries, err = listEntries(ctx, cl, filter); err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(e, &entryv1.ListEntriesResponse{Entries: entries})
	}
	printEntries(e.stdout, entries)
	return nil
}

// listEntries pages through every entry matching filter.
func listEntries(ctx context.Context, cl *client, filter *entryv1.ListEntriesRequest_Filter) ([]*types.Entry, error) {
	var entries []*types.Entry
	req := &entryv1.ListEntriesRequest{Filter: filter, PageSize: listPageSize}
	for {
		resp, err := cl.entries.ListEntries(ctx, req)
		if err != nil {
			return nil, rpcError("entry show", err)
		}
		entries = append(entries, resp.Entries...)
		if resp.NextPageToken == "" {
			return entries, nil
		}
		if resp.NextPageToken == req.PageToken {
			return nil, errors.New("entry show: server returned the same page token twice")
		}
		req.PageToken = resp.NextPageToken
	}
}

func entryCount(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("entry count")
	var f entryFilterFlags
	f.register(fs)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	lf, err := f.filter(fs)
	if err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.entries.CountEntries(ctx, &entryv1.CountEntriesRequest{Filter: &entryv1.CountEntriesRequest_Filter{
		BySpiffeId: lf.BySpiffeId, ByParentId: lf.ByParentId, BySelectors: lf.BySelectors,
		ByFederatesWith: lf.ByFederatesWith, ByHint: lf.ByHint, ByDownstream: lf.ByDownstream,
	}})
	if err != nil {
		return rpcError("entry count", err)
	}
	if c.output == "json" {
		return printJSON(e, resp)
	}
	fmt.Fprintln(e.stdout, plural(int(resp.Count), "registration entry", "registration entries"))
	return nil
}

func entryDelete(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("entry delete")
	entryID := fs.String("entryID", "", "ID of the entry to delete")
	file := fs.String("file", "", `file of IDs to delete: {"ids": [...]} or one ID per line ("-" for stdin)`)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	var ids []string
	switch {
	case *entryID != "" && *file != "":
		return errors.New("give -entryID or -file, not both")
	case *entryID != "":
		ids = []string{*entryID}
	case *file != "":
		var err error
		if ids, err = readIDs(e, *file); err != nil {
			return err
		}
	default:
		return errors.New("-entryID is required (or -file with one ID per line)")
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()

	all := &entryv1.BatchDeleteEntryResponse{}
	sendErr := inBatches(ids, func(batch []string) error {
		resp, err := cl.entries.BatchDeleteEntry(ctx, &entryv1.BatchDeleteEntryRequest{Ids: batch})
		if err != nil {
			return rpcError("entry delete", err)
		}
		all.Results = append(all.Results, resp.Results...)
		return nil
	})
	if c.output == "json" {
		if err := printJSON(e, all); err != nil {
			return err
		}
	}
	failed := 0
	for _, r := range all.Results {
		if itemFailed(r.Status) {
			fmt.Fprintf(e.stderr, "Error: entry delete: %s: %s\n", r.Id, itemError(r.Status))
			failed++
		} else if c.output != "json" {
			fmt.Fprintf(e.stdout, "Deleted entry ID %s\n", r.Id)
		}
	}
	switch {
	case sendErr != nil:
		return sendErr
	case failed > 0:
		return errReported
	}
	return nil
}

// readIDs reads entry IDs from a -file: the API's JSON form {"ids": [...]} or plain text
// with one ID per line (blank lines and # comments skipped).
func readIDs(e *env, file string) ([]string, error) {
	data, err := readInput(e, "-file", file)
	if err != nil {
		return nil, err
	}
	var ids []string
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var req entryv1.BatchDeleteEntryRequest
		if err := protojson.Unmarshal(trimmed, &req); err != nil {
			return nil, fmt.Errorf(`-file %s is not {"ids": [...]}: %w`, file, err)
		}
		ids = req.Ids
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line != "" && !strings.HasPrefix(line, "#") {
				ids = append(ids, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("-file %s: %w", file, err)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("-file %s has no entry IDs", file)
	}
	return ids, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
