package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

// datastoreCommand runs `datastore backup FILE` and `datastore restore FILE`, which work on
// the SQLite file named by the server's configuration rather than over the admin socket:
// a backup is a read-only VACUUM INTO beside the running server (WAL mode lets a reader
// take a consistent snapshot while it writes), and a restore must run with the server stopped.
func datastoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "backup" && args[0] != "restore" {
		fmt.Fprintln(stderr, "Usage: lanyard-server datastore backup|restore -config FILE BACKUP_FILE")
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("datastore "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := command.NewConfigFlags(fs, settings...)
	file, err := parseWithOneArg(fs, args[1:])
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 2
	}
	docs, err := cf.Docs()
	var cfg config.Config
	if err == nil {
		cfg, err = config.Parse(docs...)
	}
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	if cfg.Datastore.Type == "postgres" {
		fmt.Fprintln(stderr, "Error: datastore.type is postgres: back up and restore the database with pg_dump and pg_restore")
		return 1
	}
	db := cfg.Datastore.ConnectionString
	if verb == "backup" {
		err = sqlite.Backup(ctx, db, file)
	} else {
		err = sqlite.Restore(ctx, file, db)
	}
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	if verb == "backup" {
		fmt.Fprintf(stdout, "Backed up %s to %s.\n", db, file)
		return 0
	}
	fmt.Fprintf(stdout, "Restored %s from %s. Start lanyard-server; it needs this server's keys in %s/keys.\n", db, file, cfg.DataDir)
	return 0
}

// parseWithOneArg parses flags placed before or after the one positional argument.
func parseWithOneArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("give the backup file as the last argument")
	}
	file := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() != 0 {
		return "", fmt.Errorf("unexpected arguments %q: give one backup file", fs.Args())
	}
	if _, err := os.Stat(file); err != nil && fs.Name() == "datastore restore" {
		return "", fmt.Errorf("backup file: %w", err)
	}
	return file, nil
}
