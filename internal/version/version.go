// Package version says which Lanyard release a binary is, for agents to report to the
// server (PostStatus) and for operators (`-version`).
package version

import "runtime/debug"

// tag is set at release builds: -ldflags "-X github.com/lanyard-dev/lanyard/internal/version.tag=v1.2.3".
var tag string

// Get returns the release tag, else the module version Go recorded, else "devel".
func Get() string {
	if tag != "" {
		return tag
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
