package pause

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// TestAfterFuncFollowsTheClock: f runs once the fake clock passes d, not before, and
// never after stop.
func TestAfterFuncFollowsTheClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	called := make(chan struct{}, 2)
	AfterFunc(clk, time.Minute, func() { called <- struct{}{} })
	stopped := AfterFunc(clk, time.Minute, func() { called <- struct{}{} })
	stopped()
	clk.Step(59 * time.Second)
	select {
	case <-called:
		t.Fatal("f ran before the clock reached d")
	default:
	}
	clk.Step(time.Second)
	select {
	case <-called:
	case <-time.After(time.Minute): // a failure bound
		t.Fatal("f did not run once the clock reached d")
	}
	select {
	case <-called:
		t.Fatal("the stopped f ran too")
	default:
	}
}
