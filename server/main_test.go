package server

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any test leaves a goroutine running: a stopped server
// must have joined everything it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
