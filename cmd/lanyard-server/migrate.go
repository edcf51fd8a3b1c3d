package main

import (
	"io"

	"github.com/lanyard-dev/lanyard/internal/spirehcl"
	"github.com/lanyard-dev/lanyard/server/config/spireconf"
)

// migrateConfig prints a SPIRE server configuration file as lanyard-server YAML.
func migrateConfig(args []string, stdout, stderr io.Writer) int {
	return spirehcl.Command("lanyard-server", args, stdout, stderr, spireconf.Convert)
}
