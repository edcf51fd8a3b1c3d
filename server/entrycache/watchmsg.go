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

// msgSender spreads upserts and deletions over as many messages as the bounds need,
// sending each as soon as it is full: a complete set of 100,000 entries is converted to
// protos a message at a time instead of all at once, so a connecting agent costs the
// server one message of memory, not its whole set. Applying the messages in order has the
// effect of applying all at once.
type msgSender struct {
	send func(*agentv1.WatchResponse) error
	cur  *agentv1.WatchResponse // the first message: the caller's head (bundles, full)
	size int
}

// upsert adds e, sending the current message first when e does not fit in it.
func (s *msgSender) upsert(e *types.Entry) error {
	n := proto.Size(e)
	if len(s.cur.Upserted) >= maxEntriesPerMessage || (len(s.cur.Upserted) > 0 && s.size+n > maxEntryBytes) {
		if err := s.next(); err != nil {
			return err
		}
	}
	s.cur.Upserted = append(s.cur.Upserted, e)
	s.size += n
	return nil
}

// deleted adds the IDs, at most maxDeletesPerMessage to a message.
func (s *msgSender) deleted(ids []string) error {
	for start := 0; start < len(ids); start += maxDeletesPerMessage {
		if start > 0 {
			if err := s.next(); err != nil {
				return err
			}
		}
		s.cur.DeletedIds = ids[start:min(start+maxDeletesPerMessage, len(ids))]
	}
	return nil
}

// next sends the current message, saying more follow if it begins a complete set, and
// starts another.
func (s *msgSender) next() error {
	full := s.cur.Full || s.cur.More
	s.cur.More = full
	if err := s.send(s.cur); err != nil {
		return err
	}
	// More marks the follow-ups of a complete set; close clears it on the last.
	s.cur, s.size = &agentv1.WatchResponse{More: full}, 0
	return nil
}

// close sends the last message.
func (s *msgSender) close() error {
	s.cur.More = false
	return s.send(s.cur)
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
