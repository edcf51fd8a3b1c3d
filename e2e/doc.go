// Package e2e tests Lanyard as users run it: real lanyard-server and lanyard-agent
// processes, entries created with the CLI, and workloads that are real processes (under
// their own uids) using the go-spiffe SDK. The tests need root to start workloads as
// other users; elsewhere they skip.
package e2e
