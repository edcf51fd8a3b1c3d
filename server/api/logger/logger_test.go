package logger_test

import (
	"strings"
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/logbuf"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/server"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

func TestTheLogLevelChangesWhileTheServerRuns(t *testing.T) {
	var out logbuf.Buffer
	log, levels := loglevel.NewLogger("info", "text", &out)
	s := servertest.Start(t, servertest.WithLogger(log), servertest.WithServerOptions(server.WithLogLevels(levels)))
	c := loggerv1.NewLoggerClient(s.Admin)
	// A refused caller is logged at debug level only.
	denied := func() int {
		t.Helper()
		_, err := bundlev1.NewBundleClient(s.Dial(nil, nil)).CountBundles(t.Context(), &bundlev1.CountBundlesRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("anonymous CountBundles: %v; want PermissionDenied", err)
		}
		return strings.Count(out.String(), "denied caller")
	}

	l, err := c.GetLogger(t.Context(), &loggerv1.GetLoggerRequest{})
	if err != nil || l.CurrentLevel != types.LogLevel_INFO || l.LaunchLevel != types.LogLevel_INFO {
		t.Fatalf("GetLogger %v %v; want info, launched at info", l, err)
	}
	if n := denied(); n != 0 {
		t.Fatalf("at info, %d debug lines were logged", n)
	}
	l, err = c.SetLogLevel(t.Context(), &loggerv1.SetLogLevelRequest{NewLevel: types.LogLevel_DEBUG})
	if err != nil || l.CurrentLevel != types.LogLevel_DEBUG || l.LaunchLevel != types.LogLevel_INFO {
		t.Fatalf("SetLogLevel debug: %v %v", l, err)
	}
	if n := denied(); n != 1 {
		t.Fatalf("at debug, the refusal was logged %d times; want once", n)
	}
	if l, err := c.GetLogger(t.Context(), &loggerv1.GetLoggerRequest{}); err != nil || l.CurrentLevel != types.LogLevel_DEBUG {
		t.Fatalf("GetLogger after set: %v %v; want debug", l, err)
	}
	l, err = c.ResetLogLevel(t.Context(), &loggerv1.ResetLogLevelRequest{})
	if err != nil || l.CurrentLevel != types.LogLevel_INFO {
		t.Fatalf("ResetLogLevel: %v %v; want info again", l, err)
	}
	if n := denied(); n != 1 {
		t.Fatalf("after reset, the refusal was logged again (%d lines)", n)
	}
	if _, err := c.SetLogLevel(t.Context(), &loggerv1.SetLogLevelRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("SetLogLevel without a level: %v; want InvalidArgument", err)
	}
	if _, err := loggerv1.NewLoggerClient(s.AttestAgent().Conn).SetLogLevel(t.Context(), &loggerv1.SetLogLevelRequest{NewLevel: types.LogLevel_DEBUG}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("SetLogLevel from an agent: %v; want PermissionDenied", err)
	}
}

func TestWithoutLevelControlTheLoggerAPIIsNotServed(t *testing.T) {
	s := servertest.Start(t)
	if _, err := loggerv1.NewLoggerClient(s.Admin).GetLogger(t.Context(), &loggerv1.GetLoggerRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetLogger on a server started without level control: %v; want Unimplemented", err)
	}
}
