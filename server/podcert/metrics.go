package podcert

import "github.com/prometheus/client_golang/prometheus"

// metrics count the signer's stored answers and its lost races.
type metrics struct {
	answers   *prometheus.CounterVec
	conflicts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, signer string) *metrics {
	labels := prometheus.Labels{"signer": signer}
	m := &metrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_server_pod_certificates_total", ConstLabels: labels,
			Help: "PodCertificateRequests this server answered, by result (issued, denied, failed).",
		}, []string{"result"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanyard_server_pod_certificate_conflicts_total", ConstLabels: labels,
			Help: "Status writes that lost to another writer (another server answered first).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.answers, m.conflicts)
	}
	return m
}
