package fdlimit

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestRaiseLiftsTheSoftLimitToTheHardLimit(t *testing.T) {
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_NOFILE, &orig) })
	if orig.Max < 512 {
		t.Skipf("hard limit %d too low to lower the soft one meaningfully", orig.Max)
	}
	low := unix.Rlimit{Cur: 256, Max: orig.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	got, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	if got != orig.Max || Soft() != orig.Max {
		t.Fatalf("Raise = %d, Soft = %d; want the hard limit %d", got, Soft(), orig.Max)
	}
}
