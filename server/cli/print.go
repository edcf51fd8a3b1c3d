package cli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// field prints one "Label : value" line; labels are padded so the colons line up.
func field(w io.Writer, label, value string) {
	fmt.Fprintf(w, "%-17s: %s\n", label, value)
}

// unixTime renders API timestamps in UTC so output does not depend on the host's zone.
func unixTime(sec int64) string {
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

func ttl(sec int32) string {
	if sec == 0 {
		return "default"
	}
	return strconv.Itoa(int(sec))
}

// printEntries prints a count line and one block per entry, ordered by SPIFFE ID so that
// repeated runs can be diffed.
func printEntries(w io.Writer, entries []*types.Entry) {
	sorted := append([]*types.Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if x, y := idString(a.SpiffeId), idString(b.SpiffeId); x != y {
			return x < y
		}
		if x, y := idString(a.ParentId), idString(b.ParentId); x != y {
			return x < y
		}
		return a.Id < b.Id
	})
	fmt.Fprintf(w, "Found %s\n", plural(len(sorted), "entry", "entries"))
	for _, entry := range sorted {
		fmt.Fprintln(w)
		printEntry(w, entry)
	}
}

func printEntry(w io.Writer, e *types.Entry) {
	field(w, "Entry ID", e.Id)
	field(w, "SPIFFE ID", idString(e.SpiffeId))
	field(w, "Parent ID", idString(e.ParentId))
	field(w, "Revision", strconv.FormatInt(e.RevisionNumber, 10))
	if e.Downstream {
		field(w, "Downstream", "true")
	}
	field(w, "X509-SVID TTL", ttl(e.X509SvidTtl))
	field(w, "JWT-SVID TTL", ttl(e.JwtSvidTtl))
	if e.ExpiresAt != 0 {
		field(w, "Expiration time", unixTime(e.ExpiresAt))
	}
	for _, s := range e.Selectors {
		field(w, "Selector", selectorString(s))
	}
	for _, td := range e.FederatesWith {
		field(w, "FederatesWith", td)
	}
	for _, name := range e.DnsNames {
		field(w, "DNS name", name)
	}
	if e.Admin {
		field(w, "Admin", "true")
	}
	if e.StoreSvid {
		field(w, "StoreSvid", "true")
	}
	if e.Hint != "" {
		field(w, "Hint", e.Hint)
	}
	if e.CreatedAt != 0 {
		field(w, "Created at", unixTime(e.CreatedAt))
	}
}

func printAgents(w io.Writer, agents []*types.Agent) {
	sorted := append([]*types.Agent(nil), agents...)
	sort.SliceStable(sorted, func(i, j int) bool { return idString(sorted[i].Id) < idString(sorted[j].Id) })
	fmt.Fprintf(w, "Found %s\n", plural(len(sorted), "attested agent", "attested agents"))
	for _, a := range sorted {
		fmt.Fprintln(w)
		printAgent(w, a)
	}
}

func printAgent(w io.Writer, a *types.Agent) {
	field(w, "SPIFFE ID", idString(a.Id))
	field(w, "Attestation type", a.AttestationType)
	if a.X509SvidExpiresAt != 0 {
		field(w, "Expiration time", unixTime(a.X509SvidExpiresAt))
	}
	field(w, "Serial number", a.X509SvidSerialNumber)
	field(w, "Can re-attest", strconv.FormatBool(a.CanReattest))
	field(w, "Banned", strconv.FormatBool(a.Banned))
	if a.AgentVersion != "" {
		field(w, "Agent version", a.AgentVersion)
	}
	for _, s := range a.Selectors {
		field(w, "Selector", selectorString(s))
	}
}
