package config

import (
	"slices"
	"strings"
	"testing"
)

func TestServerAddresses(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"the default is the local server", "", []string{"127.0.0.1:8081"}},
		{"one address takes server_port", "server_address: lanyard.example.org\nserver_port: 9000", []string{"lanyard.example.org:9000"}},
		{"a list keeps its order and its own ports", "server_address: [10.0.0.1, '10.0.0.2:8091', '[::1]:7']",
			[]string{"10.0.0.1:8081", "10.0.0.2:8091", "[::1]:7"}},
		{"a bare IPv6 address is a host", "server_address: ['::1']", []string{"[::1]:8081"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseWithOverrides([]byte("trust_domain: example.org\n" + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ServerAddrs(); !slices.Equal(got, tt.want) {
				t.Fatalf("ServerAddrs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestServerAddressErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, yaml, field string }{
		{"an empty list", "server_address: []", "server_address"},
		{"an address without a host", "server_address: [a, ':8081']", "server_address[1]"},
		{"a bad port in the list", "server_address: ['a:99999']", "server_address[0]"},
		{"a mapping", "server_address: {a: b}", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithOverrides([]byte("trust_domain: example.org\n" + tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error = %v, want it to name %q", err, tt.field)
			}
		})
	}
}
