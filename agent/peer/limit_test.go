package peer

import (
	"io"
	"net"
	"os"
	"sync"
	"testing"
)

// counts records what a limited listener reports.
type counts struct {
	mu      sync.Mutex
	refused map[string]int
	open    int
}

func (c *counts) limits(perUID, total int) Limits {
	c.refused = map[string]int{}
	return Limits{
		PerUID: perUID, Total: total,
		Refused: func(reason string) { c.mu.Lock(); c.refused[reason]++; c.mu.Unlock() },
		Open:    func(d int) { c.mu.Lock(); c.open += d; c.mu.Unlock() },
	}
}

// acceptAll accepts from ln until it closes and hands the admitted connections out.
func acceptAll(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	out := make(chan net.Conn, 100)
	go func() {
		defer close(out)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	return out
}

func dial(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantClosedByServer fails unless the server closed c without sending anything.
func wantClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
}

func TestLimitListenerClosesConnectionsOverTheLimits(t *testing.T) {
	tests := []struct {
		name          string
		perUID, total int
		wantReason    string
	}{
		{"one uid beyond its share is refused", 2, 10, RefusedPerUID},
		{"every caller together beyond the total is refused", 10, 2, RefusedTotal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, path := listen(t)
			var got counts
			ln := LimitListener(raw, got.limits(tt.perUID, tt.total))
			admitted := acceptAll(t, ln)

			dial(t, path)
			first := <-admitted
			dial(t, path)
			<-admitted
			wantClosedByServer(t, dial(t, path))
			got.mu.Lock()
			if got.refused[tt.wantReason] != 1 || got.open != 2 {
				t.Fatalf("refused %v, open %d; want one %s and 2 open", got.refused, got.open, tt.wantReason)
			}
			got.mu.Unlock()

			// A connection the server closes frees its place.
			first.Close()
			dial(t, path)
			c := <-admitted
			wrapped, ai, err := Credentials{}.ServerHandshake(c)
			if err != nil {
				t.Fatalf("handshake on an admitted connection: %v", err)
			}
			defer wrapped.Close()
			got.mu.Lock()
			defer got.mu.Unlock()
			if got.open != 2 {
				t.Fatalf("%d connections counted open, want 2", got.open)
			}
			if ai.(*AuthInfo).UID != uint32(os.Getuid()) {
				t.Fatalf("uid %d", ai.(*AuthInfo).UID)
			}
		})
	}
}
