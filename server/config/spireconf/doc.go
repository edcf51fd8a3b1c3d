// Package spireconf converts a SPIRE server configuration file (HCL) into lanyard-server
// YAML for `lanyard-server migrate-config`. Keys with a Lanyard equivalent are renamed,
// values SPIRE reads differently are rewritten with a comment saying why, and every key or
// plugin Lanyard lacks is refused by name with what to do instead.
package spireconf
