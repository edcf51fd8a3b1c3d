// Package spirehcl reads SPIRE's configuration files (HCL v1, or the JSON form SPIRE also
// reads, as Helm charts write it) for the migrate-config commands:
// it walks the file as a tree of sections, hands out the keys the converters know, and
// names every key or plugin nobody took, so nothing in a SPIRE file is dropped silently.
// It also builds the commented Lanyard YAML the converters print. The server and agent
// halves (server/config/spireconf, agent/config/spireconf) hold the mappings.
package spirehcl
