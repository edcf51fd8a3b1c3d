// Package pkcs11 is the key manager that keeps the server's CA, JWT and WIT keys inside a
// PKCS#11 token (an HSM, SoftHSM2): keys are generated there as sensitive, non-extractable
// token objects and sign there; only public keys and signatures leave it. It needs cgo
// (the vendor's library is loaded with dlopen); a binary built without cgo refuses
// key_manager: pkcs11 with an error saying so.
package pkcs11
