package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lanyard-dev/lanyard/internal/unixsock"

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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// probeTimeout bounds the first connection attempt to the admin socket.
const probeTimeout = 5 * time.Second

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

// dial connects to the admin socket. The socket is probed with a plain dial first so that
// a missing server or a permission problem is reported in words rather than as a gRPC
// Unavailable status.
func dial(ctx context.Context, socketPath string) (*client, error) {
	abs, err := filepath.Abs(socketPath)
	if err != nil {
		return nil, fmt.Errorf("-socketPath %q: %w", socketPath, err)
	}
	probeCtx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(probeCtx, "unix", abs)
	if err != nil {
		return nil, socketError(abs, err)
	}
	_ = raw.Close()
	// Whoever can write the directory could have swapped in their own server (and CA).
	if err := unixsock.CheckDir(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("refusing to use the admin socket %s: %w", abs, err)
	}
	// The socket is local and guarded by file permissions, so no transport security.
	conn, err := grpc.NewClient("unix://"+abs, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to admin socket %s: %w", abs, err)
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

func socketError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("cannot reach server admin socket at %s: permission denied: run this command as the user that runs lanyard-server", path)
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach server admin socket at %s: is lanyard-server running? (set -socketPath if it listens elsewhere)", path)
	default:
		return fmt.Errorf("cannot reach server admin socket at %s: %w", path, err)
	}
}

// rpcError turns a failed call into "what: Code: message".
func rpcError(what string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %s: %s", what, st.Code(), st.Message())
}

// itemFailed reports whether a per-item batch status is an error.
func itemFailed(st *types.Status) bool {
	return st != nil && codes.Code(st.Code) != codes.OK
}

func itemError(st *types.Status) string {
	return fmt.Sprintf("%s: %s", codes.Code(st.Code), oneLine(st.Message))
}

// printJSON writes msg as one line of protojson. Field names are the proto names, the same
// spelling -data files use, and zero values are included so the keys are always there.
func printJSON(e *env, msg proto.Message) error {
	data, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	// protojson varies its whitespace on purpose; compacting gives byte-stable output.
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	buf.WriteByte('\n')
	_, err = e.stdout.Write(buf.Bytes())
	return err
}
