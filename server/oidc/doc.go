// Package oidc is the OpenID Connect discovery endpoint of lanyard-server: the discovery
// document at <issuer>/.well-known/openid-configuration and the JWT-SVID signing keys as a
// JWKS at <issuer>/keys, so that relying parties (cloud providers, go-oidc) can verify
// JWT-SVIDs without the Workload API.
package oidc
