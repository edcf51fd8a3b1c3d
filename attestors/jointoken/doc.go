// Package jointoken is the join_token node attestor: an operator generates a
// single-use, expiring token on the server and hands it to one agent, which
// becomes spiffe://TD/spire/agent/join_token/<token>. This is the agent half and the
// shared rules; the server half is package verifier below.
package jointoken
