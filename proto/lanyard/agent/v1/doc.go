// Package agentv1 holds Lanyard's own agent-facing gRPC extension, EntrySync, which pushes
// an agent's authorized entries and bundles instead of having the agent poll for them.
// The code is generated from sync.proto by proto/gen.sh and committed.
package agentv1
