// Package x509pop is the agent half of the x509pop node attestor and its wire format,
// which is SPIRE's: the agent sends a certificate chain issued to the node by an
// operator's PKI, the server (package x509pop/verifier) checks it chains to the CAs it
// trusts and challenges the agent to sign a fresh nonce with the certificate's key.
package x509pop
