package peer

import (
	"errors"
	"os/exec"
	"testing"
	"time"
)

// TestPinnedProcessReportsItsExit: a pinned PID stays that process; its exit is seen at
// once (Exited closes) and by Check, and a PID with no process cannot be pinned.
func TestPinnedProcessReportsItsExit(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p, err := Pin(int32(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Check(); err != nil {
		t.Fatalf("Check of a running process: %v", err)
	}
	select {
	case <-p.Exited():
		t.Fatal("Exited closed while the process runs")
	default:
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(time.Minute): // a failure bound, not a wait
		t.Fatal("Exited did not close after the process was killed")
	}
	if err := p.Check(); !errors.Is(err, ErrExited) {
		t.Fatalf("Check after the exit: %v, want ErrExited", err)
	}
	_ = cmd.Wait() // reaped: the PID is free now
	if _, err := Pin(int32(cmd.Process.Pid)); !errors.Is(err, ErrExited) {
		t.Fatalf("Pin of a PID without a process: %v, want ErrExited", err)
	}
}
