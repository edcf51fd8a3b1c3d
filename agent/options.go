package agent

import (
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

// Option changes how Run runs the agent.
type Option func(*options)

type options struct {
	levels *loglevel.Control
	// dial is added to every connection to the server; tests inject failures with it.
	dial []grpc.DialOption
}

// WithLogLevels serves the admin API's Logger service over the level that log's handler
// reads, so that an operator can change it while the agent runs.
func WithLogLevels(c *loglevel.Control) Option { return func(o *options) { o.levels = c } }
