// Package tpmtest runs a real software TPM (swtpm) for tests and provisions it as a
// TPM vendor and an operator would: an endorsement key with a certificate from a test
// manufacturer CA in NV, and a DevID key with a certificate from a test DevID CA.
package tpmtest
