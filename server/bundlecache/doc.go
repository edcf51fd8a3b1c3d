// Package bundlecache keeps every trust bundle the server serves (its own and the
// federated ones) in memory, so TLS handshakes, agents' entry streams, the bundle endpoint
// and OIDC discovery never read the datastore per request. It follows the datastore with
// one cheap revision read a second, so a bundle written by another server sharing the
// datastore reaches this server's agents within about a second.
package bundlecache
