// Package cache is the agent's in-memory store of its authorized registration entries,
// their X.509-SVIDs and the trust bundles, and the one place that decides which SVIDs
// are missing or stale (Due). The manager writes to it and mints what it says is due; the
// Workload API reads from it by matching a workload's selectors and subscribing to
// changes. It also caches JWT-SVIDs per entry and audience.
package cache
