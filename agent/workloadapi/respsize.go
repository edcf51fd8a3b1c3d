package workloadapi

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxResponseBytes bounds every Workload API response: gRPC's default receive
// limit (4 MiB), which go-spiffe, java-spiffe and py-spiffe clients keep unless told
// otherwise. A larger response fails in the client ("received message larger than max")
// and leaves the workload with nothing, so a workload matched by more entries than fit
// (about 4,000 X.509-SVIDs) gets the first ones in the response's order, its default
// SVID first, and the agent logs a warning naming both counts and the limit.
const DefaultMaxResponseBytes = 4 << 20

// budget counts down the bytes a response may still take.
type budget struct{ left int }

func (s *Server) newBudget(fixed proto.Message) *budget {
	return &budget{left: s.cfg.MaxResponseBytes - proto.Size(fixed)}
}

// fits takes room for one more element of a repeated message field and reports whether
// there was room.
func (b *budget) fits(m proto.Message) bool {
	n := 1 + protowire.SizeBytes(proto.Size(m)) // the repeated fields are field 1: a one-byte tag
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

// truncated logs that a response was cut to fit the limit.
func (s *Server) truncated(method string, matched, served int) {
	s.log.Warn("the workload is matched by more entries than fit in one Workload API response; serving the first ones (the default SVID first). Register fewer entries for its selectors",
		"method", method, "matched", matched, "served", served, "max_response_bytes", s.cfg.MaxResponseBytes)
}
