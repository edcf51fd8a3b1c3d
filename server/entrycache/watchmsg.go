package entrycache

import (
	"maps"
	"slices"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Message bounds keep every WatchResponse well under gRPC's default 4 MiB receive limit,
// whatever the entries hold.
const (
	maxEntriesPerMessage = 1000
	maxEntryBytes        = 1 << 20
	maxDeletesPerMessage = 10000
)

// chunk spreads upserts and deletions over head and as many further messages as the
// bounds need. Applying the messages in order has the effect of applying all at once.
func chunk(head *agentv1.WatchResponse, upserts []*types.Entry, deleted []string) []*agentv1.WatchResponse {
	msgs := []*agentv1.WatchResponse{head}
	cur, size := head, 0
	for _, e := range upserts {
		n := proto.Size(e)
		if len(cur.Upserted) >= maxEntriesPerMessage || (len(cur.Upserted) > 0 && size+n > maxEntryBytes) {
			cur, size = &agentv1.WatchResponse{}, 0
			msgs = append(msgs, cur)
		}
		cur.Upserted = append(cur.Upserted, e)
		size += n
	}
	for start := 0; start < len(deleted); start += maxDeletesPerMessage {
		if start > 0 {
			cur = &agentv1.WatchResponse{}
			msgs = append(msgs, cur)
		}
		cur.DeletedIds = deleted[start:min(start+maxDeletesPerMessage, len(deleted))]
	}
	return msgs
}

// federatedTrustDomains returns the distinct trust domains the entries federate with, sorted.
func federatedTrustDomains(entries []*datastore.Entry) []string {
	set := map[string]struct{}{}
	for _, e := range entries {
		for _, td := range e.FederatesWith {
			set[td] = struct{}{}
		}
	}
	return slices.Sorted(maps.Keys(set))
}
