package manager

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// syncState tracks when the agent last held the server's current entries, for the debug
// API. While the server is followed (the push stream is up, or polls succeed) that is now:
// the server pushes every change, and may stay quiet for minutes when nothing changes.
type syncState struct {
	clock     clock.PassiveClock
	mu        sync.Mutex
	last      time.Time
	following bool
}

// delivered records a message of the stream or a successful poll.
func (s *syncState) delivered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.following = s.clock.Now(), true
}

// lost records that the stream or polling ended: the agent was in sync until now.
func (s *syncState) lost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.following {
		s.last, s.following = s.clock.Now(), false
	}
}

// at returns when the agent was last in sync: now while following the server, zero
// before the first delivery.
func (s *syncState) at() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.following {
		return s.clock.Now()
	}
	return s.last
}
