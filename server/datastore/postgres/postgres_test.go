package postgres_test

import (
	"log/slog"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/datastoretest"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestConformance(t *testing.T) {
	c := pgtest.Start(t)
	// One database per test: a second open with the same t reopens that test's database.
	url := datastoretest.PerTest(func(t *testing.T) string { return c.NewDatabase(t) })
	datastoretest.Run(t, func(t *testing.T) datastore.Store { return open(t, url(t)) })
}
