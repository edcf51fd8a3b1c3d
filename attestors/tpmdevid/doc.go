// Package tpmdevid is the tpm_devid node attestor: an agent proves it holds a DevID key
// inside a TPM (a signature over a fresh nonce) and that the TPM is genuine (credential
// activation against the endorsement key, whose certificate a manufacturer CA signed).
// This package holds the wire format shared with SPIRE's plugin, the agent half (Prover)
// and the agent ID and selectors; the server half is in verifier.
package tpmdevid
