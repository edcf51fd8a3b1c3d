// Package agent assembles lanyard-agent from its parts, in the order its data flows: the
// agent's own identity (attest: saved SVID or node attestation, then renewal), the
// connection to the server (client), the cache of entries and SVIDs (cache), the manager
// that fills it (manager), the Workload API that serves it (workloadapi), and the admin
// socket and health endpoint (admin, internal/health).
package agent
