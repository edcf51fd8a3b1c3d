package cli

import (
	"errors"
	"flag"
	"fmt"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// entryFlags are the flags describing one entry, shared by `entry create` and `entry update`.
type entryFlags struct {
	entryID, spiffeID, parentID  string
	node                         bool
	selectors, federatesWith     stringList
	dns                          stringList
	x509TTL, jwtTTL              int
	admin, downstream, storeSVID bool
	expiry                       int64
	hint, data                   string
}

// entryFieldFlags are the flags that describe an entry field (so cannot go with -data).
var entryFieldFlags = []string{
	"entryID", "spiffeID", "parentID", "node", "selector", "federatesWith", "dns",
	"x509SVIDTTL", "jwtSVIDTTL", "admin", "downstream", "storeSVID", "entryExpiry", "hint",
}

func (f *entryFlags) register(fs *flag.FlagSet, update bool) {
	idHelp := "custom ID for the new entry (the server picks one if unset)"
	if update {
		idHelp = "ID of the entry to replace (required unless -data is given)"
	}
	fs.StringVar(&f.entryID, "entryID", "", idHelp)
	fs.StringVar(&f.spiffeID, "spiffeID", "", "SPIFFE ID the entry issues, e.g. spiffe://example.org/web")
	fs.StringVar(&f.parentID, "parentID", "", "SPIFFE ID of the agent (or parent entry) that may obtain it")
	fs.BoolVar(&f.node, "node", false, "make a node entry: the parent is the server, spiffe://TD/spire/server")
	fs.Var(&f.selectors, "selector", "selector type:value, e.g. unix:uid:1000 (repeatable)")
	fs.Var(&f.federatesWith, "federatesWith", "trust domain whose bundle workloads also get (repeatable)")
	fs.Var(&f.dns, "dns", "DNS name to put in X509-SVIDs (repeatable)")
	fs.IntVar(&f.x509TTL, "x509SVIDTTL", 0, "X509-SVID lifetime in seconds (0: server default)")
	fs.IntVar(&f.jwtTTL, "jwtSVIDTTL", 0, "JWT-SVID lifetime in seconds (0: server default)")
	fs.BoolVar(&f.admin, "admin", false, "workloads with this identity may use the admin API")
	fs.BoolVar(&f.downstream, "downstream", false, "workloads with this identity may act as a downstream server")
	fs.BoolVar(&f.storeSVID, "storeSVID", false, "the agent stores the SVID instead of serving it to a workload")
	fs.Int64Var(&f.expiry, "entryExpiry", 0, "when the entry expires, in unix seconds (0: never)")
	fs.StringVar(&f.hint, "hint", "", "hint passed to workloads to tell apart several identities")
	fs.StringVar(&f.data, "data", "", `JSON file of entries, {"entries":[...]}, in the API's JSON form or SPIRE's -data form ("-" for stdin)`)
}

// entries returns the entries to send: those of -data, or the one described by the flags.
func (f *entryFlags) entries(e *command.Env, fs *flag.FlagSet, update bool) ([]*types.Entry, error) {
	set := setFlags(fs)
	if f.data != "" {
		for _, name := range entryFieldFlags {
			if set[name] {
				return nil, fmt.Errorf("-data cannot be combined with -%s: put every field in the file", name)
			}
		}
		return readEntryData(e, f.data, update)
	}
	entry, err := f.entry(update)
	if err != nil {
		return nil, err
	}
	return []*types.Entry{entry}, nil
}

func (f *entryFlags) entry(update bool) (*types.Entry, error) {
	if update && f.entryID == "" {
		return nil, errors.New("-entryID is required (or -data FILE with an id in every entry)")
	}
	if f.spiffeID == "" {
		return nil, errors.New("-spiffeID is required")
	}
	spiffeID, err := parseID("-spiffeID", f.spiffeID)
	if err != nil {
		return nil, err
	}
	var parentID *types.SPIFFEID
	switch {
	case f.node && f.parentID != "":
		return nil, errors.New("give -parentID or -node, not both")
	case f.node:
		// Node entries hang off the server itself, in the entry's own trust domain.
		parentID = &types.SPIFFEID{TrustDomain: spiffeID.TrustDomain, Path: spireid.ServerPath}
	case f.parentID != "":
		if parentID, err = parseID("-parentID", f.parentID); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("-parentID is required (or -node for a node entry)")
	}
	if len(f.selectors) == 0 {
		return nil, errors.New("at least one -selector is required, e.g. -selector unix:uid:1000")
	}
	selectors, err := parseSelectors(f.selectors)
	if err != nil {
		return nil, err
	}
	federatesWith, err := parseTrustDomains("-federatesWith", f.federatesWith)
	if err != nil {
		return nil, err
	}
	x509TTL, err := seconds("-x509SVIDTTL", f.x509TTL)
	if err != nil {
		return nil, err
	}
	jwtTTL, err := seconds("-jwtSVIDTTL", f.jwtTTL)
	if err != nil {
		return nil, err
	}
	if f.expiry < 0 {
		return nil, fmt.Errorf("-entryExpiry must be unix seconds (0: never), not %d", f.expiry)
	}
	return &types.Entry{
		Id:            f.entryID,
		SpiffeId:      spiffeID,
		ParentId:      parentID,
		Selectors:     selectors,
		X509SvidTtl:   x509TTL,
		JwtSvidTtl:    jwtTTL,
		FederatesWith: federatesWith,
		Admin:         f.admin,
		Downstream:    f.downstream,
		ExpiresAt:     f.expiry,
		DnsNames:      f.dns,
		StoreSvid:     f.storeSVID,
		Hint:          f.hint,
	}, nil
}

// entryFilterFlags are the filters of `entry show` and `entry count`.
type entryFilterFlags struct {
	spiffeID, parentID, hint       string
	selectors, federatesWith       stringList
	matchSelectors, matchFederates string
	downstream                     bool
}

func (f *entryFilterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.spiffeID, "spiffeID", "", "only entries with this SPIFFE ID")
	fs.StringVar(&f.parentID, "parentID", "", "only entries with this parent ID")
	fs.Var(&f.selectors, "selector", "selector type:value to match (repeatable)")
	fs.StringVar(&f.matchSelectors, "matchSelectorsOn", "superset", "how -selector matches: "+matchNames)
	fs.Var(&f.federatesWith, "federatesWith", "trust domain to match (repeatable)")
	fs.StringVar(&f.matchFederates, "matchFederatesWithOn", "superset", "how -federatesWith matches: "+matchNames)
	fs.StringVar(&f.hint, "hint", "", "only entries with this hint")
	fs.BoolVar(&f.downstream, "downstream", false, "only entries whose downstream flag equals this (-downstream=false for the others)")
}

// filter builds the list filter; fields whose flags were not given stay unset.
func (f *entryFilterFlags) filter(fs *flag.FlagSet) (*entryv1.ListEntriesRequest_Filter, error) {
	set := setFlags(fs)
	filter := &entryv1.ListEntriesRequest_Filter{}
	var err error
	if f.spiffeID != "" {
		if filter.BySpiffeId, err = parseID("-spiffeID", f.spiffeID); err != nil {
			return nil, err
		}
	}
	if f.parentID != "" {
		if filter.ByParentId, err = parseID("-parentID", f.parentID); err != nil {
			return nil, err
		}
	}
	if filter.BySelectors, err = selectorFilter(f.selectors, f.matchSelectors); err != nil {
		return nil, err
	}
	fedMatch, err := parseFederatesWithMatch("-matchFederatesWithOn", f.matchFederates)
	if err != nil {
		return nil, err
	}
	if len(f.federatesWith) > 0 {
		tds, err := parseTrustDomains("-federatesWith", f.federatesWith)
		if err != nil {
			return nil, err
		}
		filter.ByFederatesWith = &types.FederatesWithMatch{TrustDomains: tds, Match: fedMatch}
	}
	if set["hint"] {
		filter.ByHint = wrapperspb.String(f.hint)
	}
	if set["downstream"] {
		filter.ByDownstream = wrapperspb.Bool(f.downstream)
	}
	return filter, nil
}

// describeEntry names an entry in error lines.
func describeEntry(entry *types.Entry) string {
	switch {
	case entry == nil:
		return "entry"
	case entry.Id != "" && entry.SpiffeId != nil:
		return fmt.Sprintf("%s (%s)", entry.Id, idString(entry.SpiffeId))
	case entry.Id != "":
		return entry.Id
	case entry.SpiffeId != nil:
		return idString(entry.SpiffeId)
	}
	return "entry"
}
