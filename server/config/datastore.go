package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lanyard-dev/lanyard/internal/yamlconf"
)

// DatastoreConfig selects the datastore backend.
type DatastoreConfig struct {
	// Type is "sqlite" (default: one server, a file in DataDir) or "postgres" (several
	// servers may share the database).
	Type string `yaml:"type"`
	// ConnectionString is, for sqlite, the file path (default DataDir/datastore.sqlite3);
	// for postgres, a postgres:// URL or a libpq key=value DSN (required). libpq's
	// environment (PGPASSWORD, PGSSLMODE, ...) and ~/.pgpass apply, so the password need not
	// be in the file.
	ConnectionString string `yaml:"connection_string"`
	// Pool settings, postgres only; 0 takes the default.
	// MaxOpenConns caps this server's connections. Default 10.
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxIdleConns is how many of them stay open while idle. Default max_open_conns.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// ConnMaxLifetime replaces connections older than this. Default 30m.
	ConnMaxLifetime yamlconf.Duration `yaml:"conn_max_lifetime"`
	// ConnMaxIdleTime closes connections idle longer than this. Default 5m.
	ConnMaxIdleTime yamlconf.Duration `yaml:"conn_max_idle_time"`
}

func (c *Config) validateDatastore() error {
	d := &c.Datastore
	pool := d.MaxOpenConns != 0 || d.MaxIdleConns != 0 || d.ConnMaxLifetime != 0 || d.ConnMaxIdleTime != 0
	switch d.Type {
	case "sqlite":
		if pool {
			return yamlconf.FieldError("datastore.max_open_conns", "pool settings apply to datastore.type postgres only: remove them")
		}
		if strings.HasPrefix(d.ConnectionString, "postgres://") || strings.HasPrefix(d.ConnectionString, "postgresql://") {
			return yamlconf.FieldError("datastore.type", "is sqlite but datastore.connection_string is a PostgreSQL URL: set datastore.type: postgres")
		}
		if d.ConnectionString == "" {
			d.ConnectionString = filepath.Join(c.DataDir, "datastore.sqlite3")
		}
	case "postgres":
		if d.ConnectionString == "" {
			return yamlconf.FieldError("datastore.connection_string",
				"required for postgres: a URL such as postgres://lanyard@db.example.org:5432/lanyard?sslmode=verify-full")
		}
		if _, err := pgconn.ParseConfig(d.ConnectionString); err != nil {
			// pgconn's message redacts the password.
			return yamlconf.FieldError("datastore.connection_string", err.Error())
		}
		for _, f := range []struct {
			name string
			v    int64
		}{{"max_open_conns", int64(d.MaxOpenConns)}, {"max_idle_conns", int64(d.MaxIdleConns)},
			{"conn_max_lifetime", int64(d.ConnMaxLifetime)}, {"conn_max_idle_time", int64(d.ConnMaxIdleTime)}} {
			if f.v < 0 {
				return yamlconf.FieldError("datastore."+f.name, "must not be negative (0 takes the default)")
			}
		}
		if d.MaxOpenConns != 0 && d.MaxIdleConns > d.MaxOpenConns {
			return yamlconf.FieldError("datastore.max_idle_conns", fmt.Sprintf("(%d) must not exceed max_open_conns (%d)", d.MaxIdleConns, d.MaxOpenConns))
		}
	default:
		return yamlconf.FieldError("datastore.type", fmt.Sprintf("%q: use sqlite or postgres", d.Type))
	}
	return nil
}
