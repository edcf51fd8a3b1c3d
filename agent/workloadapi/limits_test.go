package workloadapi

import "testing"

func TestConnectionCapsFitTheOpenFileLimit(t *testing.T) {
	tests := []struct {
		name                  string
		perUID, total         int
		fds                   uint64
		wantPerUID, wantTotal int
	}{
		{"a generous limit keeps the configured caps", 1000, 10000, 1 << 20, 1000, 10000},
		{"a limit of 16384 lowers the total to what two descriptors each allow", 1000, 10000, 16384, 1000, 8064},
		{"a limit of 1024 lowers both", 1000, 10000, 1024, 384, 384},
		{"an unreadable limit keeps the caps", 1000, 10000, 0, 1000, 10000},
		{"a limit below the reserve still admits one", 1000, 10000, 100, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perUID, total := fitLimits(tt.perUID, tt.total, tt.fds)
			if perUID != tt.wantPerUID || total != tt.wantTotal {
				t.Fatalf("fitLimits = %d, %d; want %d, %d", perUID, total, tt.wantPerUID, tt.wantTotal)
			}
		})
	}
}
