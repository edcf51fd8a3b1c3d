// Package attest holds the agent's own identity: node attestation and agent SVID renewal
// over spire-api-sdk's agent/v1 API (Attest, Renew), the bootstrap that loads the saved
// SVID and trust bundle from data_dir or attests the node (Bootstrap), and the loop that
// renews the agent SVID at half its lifetime and moves the agent to a connection that
// presents the new one (Renewer).
package attest
