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

func TestBeginRefreshAtStaysWhereTheApiserverAcceptsIt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		refreshAfter time.Duration
		lifetime     time.Duration
		want         time.Duration // after notBefore
	}{
		{"half the lifetime by default", 0, 2 * time.Hour, time.Hour},
		{"refresh_after past notBefore when set", 10 * time.Minute, time.Hour, 10 * time.Minute},
		{"refresh_after set as 20m", 20 * time.Minute, time.Hour, 20 * time.Minute},
		{"never earlier than 10m after notBefore", time.Minute, time.Hour, 10 * time.Minute},
		{"never later than 10m before notAfter", 5 * time.Hour, time.Hour, 50 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Signer{cfg: Config{RefreshAfter: tt.refreshAfter}}
			if got := s.refreshAt(nb, nb.Add(tt.lifetime)).Sub(nb); got != tt.want {
				t.Fatalf("beginRefreshAt notBefore+%s, want notBefore+%s", got, tt.want)
			}
		})
	}
}
