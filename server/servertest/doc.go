// Package servertest runs the real lanyard-server in-process for tests: memory keys, a
// real SQLite file, the admin API on a temp unix socket, the agent API on a TCP port with
// TLS, and a fake clock the test steps. It attests agents with join tokens through the
// real AgentService and dials as them (or as an admin SVID) over the real TLS port, so
// every API service is tested against the peers it meets in production.
package servertest
