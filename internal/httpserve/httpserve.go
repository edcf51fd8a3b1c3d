// Package httpserve runs an http.Server until a context ends and returns only once the
// server has shut down, so a caller that joins its goroutines leaves none running.
package httpserve

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Serve calls serve (srv.Serve or srv.ServeTLS on a listener) and, when ctx is done, shuts
// srv down, giving open requests up to grace to finish. It returns once serve has returned
// and the shutdown is complete; http.ErrServerClosed is not an error.
func Serve(ctx context.Context, srv *http.Server, grace time.Duration, serve func() error) error {
	served := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-served:
			return
		}
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	err := serve()
	close(served)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
