package rpcserver

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rpcMetrics counts and times every RPC by method and result code.
type rpcMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newRPCMetrics(reg prometheus.Registerer, endpoint string) *rpcMetrics {
	m := &rpcMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_server_rpc_total", Help: "RPCs handled, by endpoint, method and gRPC code.",
			ConstLabels: prometheus.Labels{"endpoint": endpoint},
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lanyard_server_rpc_duration_seconds", Help: "RPC handling time, by endpoint and method.",
			ConstLabels: prometheus.Labels{"endpoint": endpoint}, Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"method"}),
	}
	reg.MustRegister(m.total, m.duration)
	return m
}

func (m *rpcMetrics) observe(method string, start time.Time, err error) {
	m.total.WithLabelValues(method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}
