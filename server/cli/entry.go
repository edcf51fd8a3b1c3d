package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// listPageSize is how many items the CLI asks for per List* call while paging.
const listPageSize = 500

// inBatches calls send with consecutive slices of at most maxBatchSize items.
func inBatches[T any](items []T, send func([]T) error) error {
	for start := 0; start < len(items); start += maxBatchSize {
		if err := send(items[start:min(start+maxBatchSize, len(items))]); err != nil {
			return err
		}
	}
	return nil
}

// entryResult is one item of a BatchCreate/BatchUpdate response.
type entryResult struct {
	status *types.Status
	entry  *types.Entry
}

func entryResults[R interface {
	GetStatus() *types.Status
	GetEntry() *types.Entry
}](rs []R) []entryResult {
	out := make([]entryResult, len(rs))
	for i, r := range rs {
		out[i] = entryResult{r.GetStatus(), r.GetEntry()}
	}
	return out
}

func entryCreate(fs *flag.FlagSet) call {
	all := &entryv1.BatchCreateEntryResponse{}
	return entryWrite(fs, "entry create", false, all, func(ctx context.Context, cl *client, batch []*types.Entry) ([]entryResult, error) {
		resp, err := cl.entries.BatchCreateEntry(ctx, &entryv1.BatchCreateEntryRequest{Entries: batch})
		all.Results = append(all.Results, resp.GetResults()...)
		return entryResults(resp.GetResults()), err
	})
}

func entryUpdate(fs *flag.FlagSet) call {
	all := &entryv1.BatchUpdateEntryResponse{}
	return entryWrite(fs, "entry update", true, all, func(ctx context.Context, cl *client, batch []*types.Entry) ([]entryResult, error) {
		// No input mask: every field is replaced, as in SPIRE, so an update given by flags
		// leaves no trace of the old entry's optional fields.
		resp, err := cl.entries.BatchUpdateEntry(ctx, &entryv1.BatchUpdateEntryRequest{Entries: batch})
		all.Results = append(all.Results, resp.GetResults()...)
		return entryResults(resp.GetResults()), err
	})
}

// entryWrite is entry create and entry update: the entries of the flags or -data go in
// batches (batch also adds each answer to all, the -output json form); the entries that
// succeeded are printed on stdout, one error line per failed entry on stderr. Results
// received before a failed call are still printed so the user knows what was applied.
func entryWrite(fs *flag.FlagSet, what string, update bool, all proto.Message,
	batch func(context.Context, *client, []*types.Entry) ([]entryResult, error)) call {
	var f entryFlags
	f.register(fs, update)
	var entries []*types.Entry
	return call{
		Check: func(e *command.Env) (err error) {
			entries, err = f.entries(e, fs, update)
			return err
		},
		Do: func(ctx context.Context, e *command.Env, cl *client) (*command.Output, error) {
			var results []entryResult
			sendErr := inBatches(entries, func(part []*types.Entry) error {
				got, err := batch(ctx, cl, part)
				if err != nil {
					return rpcError(what, err)
				}
				if len(got) != len(part) {
					return fmt.Errorf("%s: server answered %d results for %d entries", what, len(got), len(part))
				}
				results = append(results, got...)
				return nil
			})
			failed := 0
			for i, r := range results {
				if itemFailed(r.status) {
					fmt.Fprintf(e.Stderr, "Error: %s: %s: %s\n", what, describeEntry(entries[i]), itemError(r.status))
					failed++
				}
			}
			out := &command.Output{JSON: []proto.Message{all}, Text: func(w io.Writer) error {
				first := true
				for _, r := range results {
					if itemFailed(r.status) || r.entry == nil {
						continue
					}
					if !first {
						fmt.Fprintln(w)
					}
					first = false
					printEntry(w, r.entry)
				}
				return nil
			}}
			switch {
			case sendErr != nil && len(results) > 0:
				return out, fmt.Errorf("%w (the first %d entries were already sent)", sendErr, len(results))
			case sendErr != nil:
				return out, sendErr
			case failed > 0:
				return out, command.ErrReported
			}
			return out, nil
		},
	}
}

func entryShow(fs *flag.FlagSet) call {
	var f entryFilterFlags
	f.register(fs)
	entryID := fs.String("entryID", "", "show only the entry with this ID")
	var filter *entryv1.ListEntriesRequest_Filter
	return call{
		Check: func(*command.Env) (err error) {
			if filter, err = f.filter(fs); err != nil {
				return err
			}
			if name, ok := onlyFlags(fs, "entryID"); *entryID != "" && !ok {
				return fmt.Errorf("-entryID cannot be combined with -%s: an ID already names one entry", name)
			}
			return nil
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			var entries []*types.Entry
			if *entryID != "" {
				entry, err := cl.entries.GetEntry(ctx, &entryv1.GetEntryRequest{Id: *entryID})
				if err != nil {
					return nil, rpcError("entry show "+*entryID, err)
				}
				entries = []*types.Entry{entry}
			} else {
				var err error
				req := &entryv1.ListEntriesRequest{Filter: filter, PageSize: listPageSize}
				entries, err = listAll("entry show", &req.PageToken, func() ([]*types.Entry, string, error) {
					resp, err := cl.entries.ListEntries(ctx, req)
					return resp.GetEntries(), resp.GetNextPageToken(), err
				})
				if err != nil {
					return nil, err
				}
			}
			return command.Print(&entryv1.ListEntriesResponse{Entries: entries}, func(w io.Writer) { printEntries(w, entries) }), nil
		},
	}
}

// listAll pages through a List* call: page sends the request with *token set and
// returns one page and the next token.
func listAll[T any](what string, token *string, page func() ([]T, string, error)) ([]T, error) {
	var all []T
	for {
		items, next, err := page()
		if err != nil {
			return nil, rpcError(what, err)
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		if next == *token {
			return nil, errors.New(what + ": server returned the same page token twice")
		}
		*token = next
	}
}

func entryCount(fs *flag.FlagSet) call {
	var f entryFilterFlags
	f.register(fs)
	var lf *entryv1.ListEntriesRequest_Filter
	return call{
		Check: func(*command.Env) (err error) {
			lf, err = f.filter(fs)
			return err
		},
		Do: command.Send("entry count", func(ctx context.Context, cl *client) (*entryv1.CountEntriesResponse, error) {
			return cl.entries.CountEntries(ctx, &entryv1.CountEntriesRequest{Filter: &entryv1.CountEntriesRequest_Filter{
				BySpiffeId: lf.BySpiffeId, ByParentId: lf.ByParentId, BySelectors: lf.BySelectors,
				ByFederatesWith: lf.ByFederatesWith, ByHint: lf.ByHint, ByDownstream: lf.ByDownstream,
			}})
		}, func(w io.Writer, resp *entryv1.CountEntriesResponse) {
			fmt.Fprintln(w, plural(int(resp.Count), "registration entry", "registration entries"))
		}),
	}
}

func entryDelete(fs *flag.FlagSet) call {
	entryID := fs.String("entryID", "", "ID of the entry to delete")
	file := fs.String("file", "", `file of IDs to delete: {"ids": [...]} or one ID per line ("-" for stdin)`)
	var ids []string
	return call{
		Check: func(e *command.Env) (err error) {
			switch {
			case *entryID != "" && *file != "":
				return errors.New("give -entryID or -file, not both")
			case *entryID != "":
				ids = []string{*entryID}
			case *file != "":
				ids, err = readIDs(e, *file)
			default:
				return errors.New("-entryID is required (or -file with one ID per line)")
			}
			return err
		},
		Do: func(ctx context.Context, e *command.Env, cl *client) (*command.Output, error) {
			all := &entryv1.BatchDeleteEntryResponse{}
			sendErr := inBatches(ids, func(batch []string) error {
				resp, err := cl.entries.BatchDeleteEntry(ctx, &entryv1.BatchDeleteEntryRequest{Ids: batch})
				if err != nil {
					return rpcError("entry delete", err)
				}
				all.Results = append(all.Results, resp.Results...)
				return nil
			})
			failed := 0
			for _, r := range all.Results {
				if itemFailed(r.Status) {
					fmt.Fprintf(e.Stderr, "Error: entry delete: %s: %s\n", r.Id, itemError(r.Status))
					failed++
				}
			}
			out := command.Print(all, func(w io.Writer) {
				for _, r := range all.Results {
					if !itemFailed(r.Status) {
						fmt.Fprintf(w, "Deleted entry ID %s\n", r.Id)
					}
				}
			})
			switch {
			case sendErr != nil:
				return out, sendErr
			case failed > 0:
				return out, command.ErrReported
			}
			return out, nil
		},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
