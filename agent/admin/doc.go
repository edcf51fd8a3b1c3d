// Package admin is lanyard-agent's admin socket (off unless admin_socket_path is set): the
// operator-only API SPIRE's agent serves there, spire-api-sdk's agent Logger (read and
// change the log level while the agent runs), Debug (uptime, last sync, cache size,
// the agent's own SVID chain) and Delegated Identity (authorized_delegates acting for
// other workloads: their SVIDs and the bundles, served from the agent's cache).
package admin
