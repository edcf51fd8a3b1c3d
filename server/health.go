package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lanyard-dev/lanyard/internal/httpserve"
)

// serveHealth serves /healthz (the process runs), /readyz (it can serve agents) and /metrics.
func serveHealth(ctx context.Context, ln net.Listener, ready func(context.Context) error, gatherer prometheus.Gatherer, log *slog.Logger) error {
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
	if err := httpserve.Serve(ctx, srv, 2*time.Second, func() error { return srv.Serve(ln) }); err != nil {
		log.Error("health endpoint stopped", "error", err)
		return err
	}
	return nil
}
