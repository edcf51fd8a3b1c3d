package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

// openDatastore opens the backend that datastore.type selects (Validate has checked it).
func openDatastore(ctx context.Context, cfg config.DatastoreConfig, log *slog.Logger) (datastore.Store, error) {
	switch cfg.Type {
	case "postgres":
		return postgres.Open(ctx, cfg.ConnectionString, postgres.Pool{
			MaxOpenConns: cfg.MaxOpenConns, MaxIdleConns: cfg.MaxIdleConns,
			ConnMaxLifetime: cfg.ConnMaxLifetime.D(), ConnMaxIdleTime: cfg.ConnMaxIdleTime.D(),
		}, log)
	case "sqlite", "":
		return sqlite.Open(ctx, cfg.ConnectionString, log)
	}
	return nil, fmt.Errorf("unknown datastore.type %q", cfg.Type)
}
