// Package freeport finds an unused loopback TCP port for tests that start servers or
// child processes. Another process could take the port before the child binds it; that
// shows up as a clear start failure, not a flaky result.
package freeport

import (
	"fmt"
	"net"
	"testing"
)

// Loopback returns a port on 127.0.0.1 that was free a moment ago.
func Loopback(t testing.TB) int {
	t.Helper()
	port, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Find is Loopback for programs without a testing.TB (the benchmark).
func Find() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
