// Package verifier is the server half of the x509pop node attestor: it checks an agent's
// certificate chains to the configured CAs (or, in spiffe mode, to the server's own
// bundle), challenges the agent to sign a fresh nonce with the certificate's key, and
// names the agent as SPIRE does. The agent half is package x509pop.
package verifier
