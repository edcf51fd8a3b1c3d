// Package verifier is the server half of tpm_devid: it checks the DevID certificate
// against the DevID CAs and the EK certificate against the TPM manufacturers' CAs,
// that the TPM certified the DevID key with an attestation key, and then challenges the
// agent to sign a fresh nonce with the DevID key and to activate a credential made for
// the EK, which only that TPM can.
package verifier
