package podcert

import (
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

func TestLifetimeStaysWithinTheApiserversBounds(t *testing.T) {
	secs := func(d time.Duration) *int32 { n := int32(d / time.Second); return &n }
	tests := []struct {
		name             string
		template, config time.Duration
		max              *int32
		want             time.Duration
	}{
		{"the configured TTL when the template sets none", 0, 3 * time.Hour, secs(24 * time.Hour), 3 * time.Hour},
		{"the template's TTL over the configured one", 2 * time.Hour, 3 * time.Hour, secs(24 * time.Hour), 2 * time.Hour},
		{"capped by maxExpirationSeconds", 48 * time.Hour, time.Hour, secs(5 * time.Hour), 5 * time.Hour},
		{"a day when maxExpirationSeconds is unset", 48 * time.Hour, time.Hour, nil, 24 * time.Hour},
		{"raised to the 1h minimum (a template written for agents' 10m SVIDs)", 10 * time.Minute, time.Hour, secs(24 * time.Hour), time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Signer{cfg: Config{TTL: tt.config}}
			if got := s.lifetime(&subject{identity: k8sreg.PodIdentity{TTL: tt.template}}, tt.max); got != tt.want {
				t.Fatalf("lifetime %s, want %s", got, tt.want)
			}
		})
	}
}
