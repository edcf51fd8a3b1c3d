// Package verifier is the server half of the join_token node attestor: it consumes the
// token from the datastore, once, and names the agent after it. The agent half is
// package jointoken, which links nothing of the server.
package verifier
