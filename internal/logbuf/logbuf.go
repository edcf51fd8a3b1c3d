// Package logbuf collects a component's log output in a test, safe for the concurrent
// writes of a running component, so the test can wait for a message.
package logbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is an io.Writer whose content can be read while it is being written.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether s was written.
func (b *Buffer) Contains(s string) bool { return strings.Contains(b.String(), s) }
