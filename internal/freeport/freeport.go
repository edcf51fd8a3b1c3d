// Package freeport finds an unused loopback TCP port for tests that start servers or
// child processes. Another process could take the port before the child binds it; that
// shows up as a clear start failure, not a flaky result.
package freeport

import (
	"net"
	"testing"
)

// Loopback returns a port on 127.0.0.1 that was free a moment ago.
func Loopback(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
