package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/api"
	agentapi "github.com/lanyard-dev/lanyard/server/api/agent"
	bundleapi "github.com/lanyard-dev/lanyard/server/api/bundle"
	debugapi "github.com/lanyard-dev/lanyard/server/api/debug"
	entryapi "github.com/lanyard-dev/lanyard/server/api/entry"
	localauthorityapi "github.com/lanyard-dev/lanyard/server/api/localauthority"
	loggerapi "github.com/lanyard-dev/lanyard/server/api/logger"
	svidapi "github.com/lanyard-dev/lanyard/server/api/svid"
	trustdomainapi "github.com/lanyard-dev/lanyard/server/api/trustdomain"
	"github.com/lanyard-dev/lanyard/server/bundlecache"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/entrycache"
	"github.com/lanyard-dev/lanyard/server/serversvid"
)

// serviceDeps is everything the API services are built from.
type serviceDeps struct {
	cfg          config.Config
	td           spiffeid.TrustDomain
	store        datastore.Store
	ca           *ca.CA
	entries      *entrycache.Cache
	bundles      *bundlecache.Cache
	svid         *serversvid.SVID
	verifiers    map[string]attestors.NodeVerifier
	fed          federationParts
	agentChanged func(spiffeid.ID) // the stream guard's signal
	levels       *loglevel.Control
	started      time.Time
	clk          clock.Clock
	log          *slog.Logger
}

// services builds every API service and returns the func that registers them on a gRPC
// server, and the entry service for in-process writers (Kubernetes registration).
// Services that change bundles tell the bundle cache at once; stop ends what they start.
func services(stop context.Context, d serviceDeps) (register func(*grpc.Server), entries *entryapi.Service) {
	agents := agentapi.New(agentapi.Config{
		TrustDomain: d.td, OnChange: d.agentChanged, Store: d.store, Signer: d.ca, AgentTTL: d.cfg.AgentTTL.D(), Log: d.log.With("api", "agent"),
		Verifiers: d.verifiers, Now: d.clk.Now,
	})
	bundles := bundleapi.New(bundleapi.Config{TrustDomain: d.td, Store: d.store, Log: d.log.With("api", "bundle"), OnChange: d.bundles.Notify})
	entries = entryapi.New(entryapi.Config{TrustDomain: d.td, Store: d.store, Authorized: d.entries, Log: d.log.With("api", "entry")})
	svids := svidapi.New(svidapi.Config{
		TrustDomain: d.td, Signer: d.ca, Authorized: d.entries, Log: d.log.With("api", "svid"),
		X509TTL: d.cfg.DefaultX509SVIDTTL.D(), JWTTTL: d.cfg.DefaultJWTSVIDTTL.D(), WITTTL: d.cfg.DefaultWITSVIDTTL.D(), Now: d.clk.Now,
	})
	trustDomains := trustdomainapi.New(trustdomainapi.Config{
		TrustDomain: d.td, Store: d.fed.store, Refresher: d.fed.refresher, OnChange: d.fed.relationshipsChanged(d.bundles),
		Managed: func(td string) bool { return d.fed.managed[td] }, Log: d.log.With("api", "trustdomain"),
	})
	watch := entrycache.NewWatchService(d.entries, watchLookup, d.bundles, d.log.With("api", "entrysync"))
	debug := debugapi.New(debugapi.Config{Store: d.store, Started: d.started, Now: d.clk.Now, ServerSVID: d.svid.Current})
	authorities := localauthorityapi.New(localauthorityapi.Config{CA: d.ca, OnChange: func() {
		d.bundles.Notify()
		// The server's own SVID may come from the authority just replaced; once that one
		// is revoked, agents would refuse the server's handshakes.
		if err := d.svid.Rotate(stop); err != nil {
			d.log.Warn("re-signing the server SVID after an authority change failed; it is renewed at half-life", "error", err)
		}
	}})
	healthSrv := health.NewServer()

	return func(g *grpc.Server) {
		agentv1.RegisterAgentServer(g, agents)
		bundlev1.RegisterBundleServer(g, bundles)
		entryv1.RegisterEntryServer(g, entries)
		svidv1.RegisterSVIDServer(g, svids)
		trustdomainv1.RegisterTrustDomainServer(g, trustDomains)
		syncv1.RegisterEntrySyncServer(g, watch)
		debugv1.RegisterDebugServer(g, debug)
		localauthorityv1.RegisterLocalAuthorityServer(g, authorities)
		if d.levels != nil {
			loggerv1.RegisterLoggerServer(g, loggerapi.New(d.levels))
		}
		grpc_health_v1.RegisterHealthServer(g, healthSrv)
	}, entries
}

// watchLookup identifies the agent of an EntrySync stream from the authenticated caller.
func watchLookup(ctx context.Context) (string, []attestors.Selector, error) {
	c := api.CallerFrom(ctx)
	if c.Kind != api.AgentCaller || c.Agent == nil {
		return "", nil, status.Error(codes.PermissionDenied, "only attested agents may watch entries")
	}
	return c.Agent.ID, c.Agent.Selectors, nil
}
