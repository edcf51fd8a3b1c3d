package api

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func TestCallersAreToldWhatFailedWithoutTheDatastoresInternals(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      codes.Code
		message   string
		forbidden string
	}{
		{"a datastore sentinel loses the backend's prefixes",
			fmt.Errorf("sqlite: create entry 0: %w", fmt.Errorf("similar entry already exists (entry e1 has the same SPIFFE ID, parent ID and selectors): %w", datastore.ErrAlreadyExists)),
			codes.AlreadyExists, "creating entry: similar entry already exists (entry e1", "sqlite"},
		{"a validation error keeps its description",
			invalidf("selector %q has no value", "unix"), codes.InvalidArgument, `creating entry: selector "unix" has no value`, "invalid:"},
		{"an internal error says only that it was internal",
			fmt.Errorf("sqlite: create entries: %w", errors.New("disk I/O error (10)")), codes.Internal, "creating entry: internal error", "disk I/O"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(Error("creating entry", tt.err))
			if st.Code() != tt.code || !strings.HasPrefix(st.Message(), tt.message) || strings.Contains(st.Message(), tt.forbidden) {
				t.Errorf("Error: %s %q, want %s starting %q without %q", st.Code(), st.Message(), tt.code, tt.message, tt.forbidden)
			}
			var logged bytes.Buffer
			bs := BatchStatus(slog.New(slog.NewTextHandler(&logged, nil)), "creating entry", tt.err)
			if codes.Code(bs.Code) != tt.code || !strings.HasPrefix(bs.Message, tt.message) || strings.Contains(bs.Message, tt.forbidden) {
				t.Errorf("BatchStatus: %v", bs)
			}
			if tt.code == codes.Internal && !strings.Contains(logged.String(), tt.forbidden) {
				t.Errorf("the internal cause was not logged: %q", logged.String())
			}
		})
	}
	t.Run("an internal error's cause reaches the interceptor's log", func(t *testing.T) {
		var logged bytes.Buffer
		logInternal(slog.New(slog.NewTextHandler(&logged, nil)), "/x.Y/Z", Error("outer", Error("inner", errors.New("fd exhausted"))))
		if !strings.Contains(logged.String(), "fd exhausted") {
			t.Fatalf("log %q lacks the cause", logged.String())
		}
	})
}
