package api_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/api"
)

func TestPageRefusesWhatNoEarlierPageReturned(t *testing.T) {
	for _, tt := range []struct {
		name  string
		size  int32
		token string
		want  codes.Code
	}{
		{"the first page", 10, "", codes.OK},
		{"everything", 0, "", codes.OK},
		{"a token as pages carry them", 10, "ZW50cnktMDAwMQ", codes.OK},
		{"a negative size", -1, "", codes.InvalidArgument},
		{"a token that is not URL-safe base64", 10, "a+b/", codes.InvalidArgument},
		{"a token of impossible length", 10, "a", codes.InvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := api.Page(tt.size, tt.token)
			if status.Code(err) != tt.want {
				t.Fatalf("Page(%d, %q): %v; want %s", tt.size, tt.token, err, tt.want)
			}
			if err == nil && (p.Size != int(tt.size) || p.Token != tt.token) {
				t.Fatalf("Page(%d, %q) = %+v", tt.size, tt.token, p)
			}
		})
	}
}
