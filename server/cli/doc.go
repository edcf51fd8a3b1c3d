// Package cli is the admin command line of lanyard-server: `entry`, `agent`, `bundle`,
// `token` and `healthcheck` subcommands that talk to a running server over its admin
// unix socket using the spire-api-sdk services. Flag names follow SPIRE's CLI so that
// existing scripts keep working.
package cli
