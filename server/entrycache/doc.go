// Package entrycache keeps every registration entry of the datastore in memory, indexed so
// that the entries an agent is authorized for are found in time proportional to the answer.
// It follows the datastore's entry events to stay current (also with other servers' writes)
// and serves EntrySync.Watch, which pushes each agent's authorized entries and bundles.
package entrycache
