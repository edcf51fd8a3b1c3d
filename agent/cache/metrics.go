package cache

import "github.com/prometheus/client_golang/prometheus"

var (
	entriesDesc = prometheus.NewDesc("lanyard_agent_entries", "Registration entries the agent is authorized for.", nil, nil)
	svidsDesc   = prometheus.NewDesc("lanyard_agent_x509_svids", "Entries with a current (unexpired) X.509-SVID in the cache.", nil, nil)
)

// Collector exposes the cache's size, so operators see an agent falling behind (entries
// without SVIDs) and benchmarks know when minting is complete. Both gauges come from one
// walk of the cache per scrape.
func (c *Cache) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Cache }

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- entriesDesc; ch <- svidsDesc }

func (cc collector) Collect(ch chan<- prometheus.Metric) {
	entries, svids := cc.c.Counts()
	ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(entries))
	ch <- prometheus.MustNewConstMetric(svidsDesc, prometheus.GaugeValue, float64(svids))
}
