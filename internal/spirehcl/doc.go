// Package spirehcl reads SPIRE's HCL configuration files for the migrate-config commands:
// it walks the file as a tree of sections, hands out the keys the converters know, and
// names every key or plugin nobody took, so nothing in a SPIRE file is dropped silently.
// It also builds the commented Lanyard YAML the converters print. The server and agent
// halves (server/config/spireconf, agent/config/spireconf) hold the mappings.
package spirehcl
