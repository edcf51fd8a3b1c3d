// Package unix is the unix workload attestor: it describes a local process by its user,
// groups and executable with SPIRE-compatible selectors (unix:uid:1000, unix:user:web,
// unix:gid:, unix:group:, unix:supplementary_gid:, unix:supplementary_group:, unix:path:,
// unix:sha256:), reading /proc and the agent host's /etc/passwd and /etc/group.
package unix
