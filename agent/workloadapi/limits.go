package workloadapi

import (
	"net"

	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/internal/fdlimit"
)

// Defaults no node meets in normal use (a busy node runs a few hundred workloads, each
// with a handful of connections), low enough that one local user cannot take every
// descriptor the agent has.
const (
	DefaultMaxConnectionsPerUID = 1000
	DefaultMaxConnections       = 10000
)

// fdReserve is kept free of Workload API connections for everything else the agent
// opens: its server connection, /proc files while attesting, health and metrics.
const fdReserve = 256

// fitLimits lowers total (and perUID with it) so that the connections fit within an
// open file limit of fds, two descriptors each. fds 0 means unknown: nothing changes.
func fitLimits(perUID, total int, fds uint64) (int, int) {
	if fds > 0 {
		budget := 1
		if fds > fdReserve+2 {
			budget = int((fds - fdReserve) / 2)
		}
		total = min(total, budget)
	}
	return min(perUID, total), total
}

// limit wraps ln so that it holds no more connections than configured, counting refusals.
func (s *Server) limit(ln net.Listener) net.Listener {
	fds := fdlimit.Soft()
	perUID, total := fitLimits(s.cfg.MaxConnectionsPerUID, s.cfg.MaxConnections, fds)
	if total < s.cfg.MaxConnections || perUID < s.cfg.MaxConnectionsPerUID {
		s.log.Warn("Workload API connection limits lowered to fit the open file limit; raise the limit (ulimit -n, LimitNOFILE=) to allow more",
			"open_file_limit", fds, "max_connections", total, "max_connections_per_uid", perUID)
	}
	return peer.LimitListener(ln, peer.Limits{
		PerUID: perUID, Total: total,
		Refused: s.metrics.refused, Open: s.metrics.connections,
	})
}
