package tail

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the tailer's Prometheus collectors.
type Metrics struct {
	LinesRead prometheus.Counter
	BytesRead prometheus.Counter
	FilesOpen prometheus.Gauge
	LagBytes  *prometheus.GaugeVec
	// LagSeconds exports sightline_agent_file_lag_seconds{path} for a
	// Tailer whose caller reports acknowledgements (Options.ReportsAcks).
	LagSeconds prometheus.Collector

	lagSeconds *lagCollector
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		LinesRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_lines_read_total", Help: "Lines read from tailed files."}),
		BytesRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_read_bytes_total", Help: "Bytes read from tailed files."}),
		FilesOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sightline_agent_files_open", Help: "Files currently tailed."}),
		LagBytes:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sightline_agent_file_lag_bytes", Help: "Bytes in a tailed file not yet read, per path."}, []string{"path"}),
	}
	m.lagSeconds = newLagCollector()
	m.LagSeconds = m.lagSeconds
	if reg != nil {
		reg.MustRegister(m.LinesRead, m.BytesRead, m.FilesOpen, m.LagBytes, m.LagSeconds)
	}
	return m
}
