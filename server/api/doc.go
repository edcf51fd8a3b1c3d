// Package api holds what the server's gRPC services share: who the caller is
// (local admin, admin SVID, attested agent, anonymous), the per-method
// authorization policy enforced by interceptors, and conversions between
// spire-api-sdk types and datastore records with their validation.
package api
