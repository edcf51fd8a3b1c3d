// Package datastoretest is the conformance suite every datastore.Store backend must pass.
// A backend's own test calls Run with a function that opens a store; the suite then checks
// the whole Store contract against it with real data, so backends stay interchangeable.
package datastoretest
