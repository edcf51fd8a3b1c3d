// Package cache is the agent's in-memory store of its authorized registration entries,
// their X.509-SVIDs and the trust bundles. The manager writes to it; the Workload API
// reads from it by matching a workload's selectors and subscribing to changes. It also
// caches JWT-SVIDs per entry and audience.
package cache
