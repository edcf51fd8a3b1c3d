package cli

import (
	"context"
	"fmt"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lanyard-dev/lanyard/internal/adminclient"
	"github.com/lanyard-dev/lanyard/internal/command"
)

// client is a connection to the admin socket with the service clients the CLI uses.
type client struct {
	conn    *grpc.ClientConn
	entries entryv1.EntryClient
	agents  agentv1.AgentClient
	bundles bundlev1.BundleClient
	health  grpc_health_v1.HealthClient
	svids   svidv1.SVIDClient
	logger  loggerv1.LoggerClient
	debug   debugv1.DebugClient

	authorities localauthorityv1.LocalAuthorityClient

	trustDomains trustdomainv1.TrustDomainClient
}

// dial connects to the server's admin socket.
func dial(ctx context.Context, socketPath string) (*client, error) {
	conn, err := adminclient.Dial(ctx, "server", socketPath)
	if err != nil {
		return nil, err
	}
	return &client{
		conn:    conn,
		entries: entryv1.NewEntryClient(conn),
		agents:  agentv1.NewAgentClient(conn),
		bundles: bundlev1.NewBundleClient(conn),
		health:  grpc_health_v1.NewHealthClient(conn),
		svids:   svidv1.NewSVIDClient(conn),
		logger:  loggerv1.NewLoggerClient(conn),
		debug:   debugv1.NewDebugClient(conn),

		authorities: localauthorityv1.NewLocalAuthorityClient(conn),

		trustDomains: trustdomainv1.NewTrustDomainClient(conn),
	}, nil
}

func (c *client) Close() { _ = c.conn.Close() }

// rpcError turns a failed call into "what: Code: message".
func rpcError(what string, err error) error { return command.CallError(what, err) }

// itemFailed reports whether a per-item batch status is an error.
func itemFailed(st *types.Status) bool {
	return st != nil && codes.Code(st.Code) != codes.OK
}

func itemError(st *types.Status) string {
	return fmt.Sprintf("%s: %s", codes.Code(st.Code), command.OneLine(st.Message))
}
