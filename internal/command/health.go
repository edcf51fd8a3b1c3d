package command

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/health/grpc_health_v1"
)

// Health is the healthcheck command of both binaries: -shallow and -verbose as SPIRE has
// them, the status printed in words or, with -output json, as the gRPC health answer.
type Health struct {
	who              string // "Server" or "Agent"
	shallow, verbose *bool
}

// HealthFlags registers -shallow and -verbose; who names the process in the output.
func HealthFlags(fs *flag.FlagSet, who string) *Health {
	return &Health{
		who:     who,
		shallow: fs.Bool("shallow", false, "only check that the "+strings.ToLower(who)+" answers, not that it is ready"),
		verbose: fs.Bool("verbose", false, "print the status the "+strings.ToLower(who)+" reports"),
	}
}

// Report turns the status the process reported (and why it is not serving, if known)
// into the command's output: a deep check fails unless SERVING, -shallow only needed the
// answer.
func (h *Health) Report(status grpc_health_v1.HealthCheckResponse_ServingStatus, reason string) (*Output, error) {
	resp := &grpc_health_v1.HealthCheckResponse{Status: status}
	why := ""
	if reason != "" {
		why = ": " + reason
	}
	var out *Output
	if *h.verbose {
		out = &Output{Text: func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Health status: %s%s\n", status, why)
			return err
		}}
	}
	if !*h.shallow && status != grpc_health_v1.HealthCheckResponse_SERVING {
		return out, fmt.Errorf("%s is unhealthy: health status %s%s", strings.ToLower(h.who), status, why)
	}
	verbose := out
	return &Output{JSON: jsonOne(resp), Text: func(w io.Writer) error {
		if verbose != nil {
			if err := verbose.Text(w); err != nil {
				return err
			}
		}
		var err error
		if status != grpc_health_v1.HealthCheckResponse_SERVING {
			_, err = fmt.Fprintf(w, "%s is alive (health status %s).\n", h.who, status)
		} else {
			_, err = fmt.Fprintf(w, "%s is healthy.\n", h.who)
		}
		return err
	}}, nil
}
