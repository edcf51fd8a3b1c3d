// Package health is the HTTP endpoint of a server or agent: /healthz (the process runs),
// /readyz (it can do its job) and /metrics, stopped with its context.
package health

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lanyard-dev/lanyard/internal/httpserve"
)

// Serve serves the endpoint on ln until ctx ends and returns once it has shut down. ready
// says why the process is not ready (nil when it is); /readyz answers 503 with that text.
func Serve(ctx context.Context, ln net.Listener, ready func(context.Context) error, gatherer prometheus.Gatherer) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return httpserve.Serve(ctx, srv, 2*time.Second, func() error { return srv.Serve(ln) })
}
