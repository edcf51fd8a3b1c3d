package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"

	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// The datastores `lanyard-bench scale` measures, as -datastores names them.
const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"
)

// storeLabels say how each datastore is deployed, for tables and chart legends.
var storeLabels = map[string]string{
	storeSQLite:   "SQLite, 1 server",
	storePostgres: "PostgreSQL, 2 servers",
}

// scaleServers are the lanyard-server processes of one scale round: one on its own SQLite
// file, or two of one trust domain sharing a fresh PostgreSQL database, each with its own
// data_dir (keys, CA) and ports. The first one takes the admin calls.
type scaleServers struct {
	store string
	all   []*deployment
}

// startScaleServers starts the servers of one round; pg is the cluster for postgres.
func startScaleServers(ctx context.Context, bin, store string, pg *pgtest.Cluster) (_ *scaleServers, err error) {
	s := &scaleServers{store: store}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if store == storeSQLite {
		d, err := deployServer(ctx, bin, "")
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, d)
		return s, nil
	}
	url, err := pg.CreateDatabase(ctx)
	if err != nil {
		return nil, err
	}
	// 2 servers × 20 connections stay well inside the cluster's max_connections.
	cfg := fmt.Sprintf("datastore:\n  type: postgres\n  connection_string: %q\n  max_open_conns: 20\n", url)
	for range 2 {
		d, err := deployServer(ctx, bin, cfg)
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, d)
	}
	return s, s.awaitSharedBundle(ctx)
}

// first is the server whose admin API the round uses.
func (s *scaleServers) first() *deployment { return s.all[0] }

// addrs lists each server's agent-facing address.
func (s *scaleServers) addrs() []string {
	out := make([]string, len(s.all))
	for i, d := range s.all {
		out[i] = fmt.Sprintf("127.0.0.1:%d", d.serverPort)
	}
	return out
}

// awaitSharedBundle waits until the bundle holds every server's CA, so agents attested at
// one server trust every other.
func (s *scaleServers) awaitSharedBundle(ctx context.Context) error {
	return waitFor(ctx, 30*time.Second, fmt.Sprintf("the shared bundle to hold the CAs of all %d servers", len(s.all)), func() bool {
		b, err := bundlev1.NewBundleClient(s.first().admin).GetBundle(ctx, &bundlev1.GetBundleRequest{})
		return err == nil && len(b.X509Authorities) >= len(s.all)
	})
}

// rss is the servers' resident memory summed, in MiB (PostgreSQL's own is not counted).
func (s *scaleServers) rss() (float64, error) {
	return s.sum(func(d *deployment) (float64, error) { return rss(d.server) })
}

// cpuSeconds is the CPU time the servers used, summed.
func (s *scaleServers) cpuSeconds() (float64, error) {
	return s.sum(func(d *deployment) (float64, error) { return cpuSeconds(d.server) })
}

func (s *scaleServers) sum(of func(*deployment) (float64, error)) (float64, error) {
	var total float64
	for _, d := range s.all {
		v, err := of(d)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// restart kills every server with SIGKILL and starts them all again at once on the same
// data, as after a power loss or an upgrade of every server: all N agents reconnect
// together. It returns when the new processes were started.
func (s *scaleServers) restart(ctx context.Context, bin string) (time.Time, error) {
	for _, d := range s.all {
		if err := d.kill9(); err != nil {
			return time.Time{}, err
		}
	}
	restarted := time.Now()
	for _, d := range s.all {
		if err := d.launch(bin); err != nil {
			return time.Time{}, err
		}
	}
	for _, d := range s.all {
		if err := d.awaitAdmin(ctx, 60*time.Second); err != nil {
			log, _ := os.ReadFile(filepath.Join(d.dir, "lanyard-server.log"))
			return time.Time{}, fmt.Errorf("%w; lanyard-server's log:\n%s", err, log)
		}
	}
	return restarted, nil
}

func (s *scaleServers) close() {
	for _, d := range s.all {
		d.close()
	}
}
