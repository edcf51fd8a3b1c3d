// Package ca is the server's certificate authority: a self-signed X.509 CA and a JWT
// signing key, each rotated through prepared → active → old slots, with prepared public
// material published in the trust bundle before it signs anything. It signs X.509-SVIDs
// and JWT-SVIDs per the SPIFFE specs.
package ca
