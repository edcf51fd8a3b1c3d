// Package renew holds when an SVID is renewed and how a failed renewal is retried, for
// everything that renews one: the server's own SVID, the agent's SVID and the workload
// SVIDs the agent keeps.
package renew

import "time"

// HalfLife is when a certificate valid from notBefore to notAfter is renewed: half its
// lifetime in, so that a renewal that fails has the other half to be retried.
func HalfLife(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(notAfter.Sub(notBefore) / 2)
}
