package workloadapi

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// securityHeader must be on every call. Browsers and other proxies cannot be made to
// send it, which keeps server-side request forgery away from the Workload API.
const securityHeader = "workload.spiffe.io"

// Envoy's SDS calls are exempt: Envoy cannot send the header, and SDS answers only the
// attested caller, like the Workload API. So is the health service, which answers nothing
// but whether the agent is ready.
func checkHeader(ctx context.Context, fullMethod string) error {
	if strings.HasPrefix(fullMethod, sdsMethodsPrefix) || strings.HasPrefix(fullMethod, healthMethodsPrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(securityHeader); len(v) != 1 || v[0] != "true" {
		return status.Errorf(codes.InvalidArgument, "security header missing from request: set gRPC metadata %q to \"true\"", securityHeader)
	}
	return nil
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := path.Base(info.FullMethod)
	if err := checkHeader(ctx, info.FullMethod); err != nil {
		s.metrics.done(method, err)
		return nil, err
	}
	resp, err := handler(ctx, req)
	s.metrics.done(method, err)
	return resp, err
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	method := path.Base(info.FullMethod)
	if err := checkHeader(ss.Context(), info.FullMethod); err != nil {
		s.metrics.done(method, err)
		return err
	}
	s.metrics.streams(method, 1)
	err := handler(srv, ss)
	s.metrics.streams(method, -1)
	s.metrics.done(method, err)
	return err
}

// metrics are optional: every method is a no-op on a nil *metrics.
type metrics struct {
	calls   *prometheus.CounterVec
	active  *prometheus.GaugeVec
	conns   prometheus.Gauge
	refusal *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_workload_api_calls_total",
			Help: "Workload API calls by method and final gRPC status code.",
		}, []string{"method", "code"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lanyard_agent_workload_api_streams",
			Help: "Workload API streams open now, by method.",
		}, []string{"method"}),
	}
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lanyard_agent_workload_api_connections",
		Help: "Workload API connections open now.",
	})
	// By reason only: a uid label would let one caller create unbounded series.
	m.refusal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lanyard_agent_workload_api_connections_refused_total",
		Help: "Workload API connections closed at accept, by reason (per_uid_limit, total_limit, no_peer_credentials).",
	}, []string{"reason"})
	m.calls = register(reg, m.calls)
	m.active = register(reg, m.active)
	m.conns = register(reg, m.conns)
	m.refusal = register(reg, m.refusal)
	return m
}

// register reuses an identical collector already registered (a second server in one
// process) instead of failing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *metrics) done(method string, err error) {
	if m != nil {
		m.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	}
}

func (m *metrics) streams(method string, delta float64) {
	if m != nil {
		m.active.WithLabelValues(method).Add(delta)
	}
}

func (m *metrics) refused(reason string) {
	if m != nil {
		m.refusal.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) connections(delta int) {
	if m != nil {
		m.conns.Add(float64(delta))
	}
}
