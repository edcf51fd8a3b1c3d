package main

import (
	"io"

	"github.com/lanyard-dev/lanyard/agent/config/spireconf"
	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

// migrateConfig prints a SPIRE agent configuration file as lanyard-agent YAML.
func migrateConfig(args []string, stdout, stderr io.Writer) int {
	return spirehcl.Command("lanyard-agent", args, stdout, stderr, spireconf.Convert)
}
