package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// TracesConfig configures the traces pillar: tail sampling of stored spans
// and the span metrics / service graph derived from every span.
type TracesConfig struct {
	// SamplingRate is the share of traces stored by chance (0..1); 1
	// stores everything and disables buffering.
	SamplingRate float64 `yaml:"sampling_rate"`
	// KeepErrors stores every trace with an error span, whatever the rate.
	KeepErrors bool `yaml:"keep_errors"`
	// KeepSlowerThan stores every trace with a span at least this long
	// (0 = off).
	KeepSlowerThan model.Duration `yaml:"keep_slower_than"`
	// DecisionWait is how long a trace's spans wait for the sampling
	// decision when sampling_rate < 1.
	DecisionWait model.Duration `yaml:"decision_wait"`
	// SamplingBufferBytes bounds the memory of spans awaiting a decision.
	SamplingBufferBytes ByteSize `yaml:"sampling_buffer_bytes"`
	// ServiceGraphWait is how long half of a client/server pair waits for
	// the other half; then a client span naming a peer (peer.service,
	// db.system, server.address, messaging.system) becomes an edge to it.
	ServiceGraphWait model.Duration `yaml:"service_graph_wait"`
	// ServiceGraphMaxPending bounds the half-matched pairs held.
	ServiceGraphMaxPending int `yaml:"service_graph_max_pending"`
	// SpanMetricsMaxSeries bounds the derived series.
	SpanMetricsMaxSeries int `yaml:"span_metrics_max_series"`
	// SpanMetricsBuckets are the duration histogram bounds in seconds.
	SpanMetricsBuckets []float64 `yaml:"span_metrics_buckets"`
	// SpanMetricsStaleAfter drops a derived series no span updated for
	// this long (a staleness marker ends it), so churning span names and
	// peers do not fill the series limit.
	SpanMetricsStaleAfter model.Duration `yaml:"span_metrics_stale_after"`
}

func defaultTraces() TracesConfig {
	return TracesConfig{
		SamplingRate:           1,
		KeepErrors:             true,
		DecisionWait:           model.Duration(10 * time.Second),
		SamplingBufferBytes:    64 << 20,
		ServiceGraphWait:       model.Duration(10 * time.Second),
		ServiceGraphMaxPending: 100_000,
		SpanMetricsMaxSeries:   100_000,
		SpanMetricsStaleAfter:  model.Duration(15 * time.Minute),
		SpanMetricsBuckets:     []float64{0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384},
	}
}

func (t TracesConfig) validate(bad func(key, format string, args ...any)) {
	if !(t.SamplingRate >= 0 && t.SamplingRate <= 1) {
		bad("traces.sampling_rate", "%v is not within 0..1", t.SamplingRate)
	}
	if t.KeepSlowerThan < 0 {
		bad("traces.keep_slower_than", "must not be negative")
	}
	if t.SamplingRate < 1 && t.DecisionWait <= 0 {
		bad("traces.decision_wait", "must be positive when sampling_rate is below 1")
	}
	if t.SamplingRate < 1 && t.SamplingBufferBytes < 1<<20 {
		bad("traces.sampling_buffer_bytes", "must be at least 1MB when sampling_rate is below 1")
	}
	if t.ServiceGraphWait <= 0 {
		bad("traces.service_graph_wait", "must be positive")
	}
	if t.ServiceGraphMaxPending <= 0 {
		bad("traces.service_graph_max_pending", "must be positive")
	}
	if t.SpanMetricsMaxSeries <= 0 {
		bad("traces.span_metrics_max_series", "must be positive")
	}
	if t.SpanMetricsStaleAfter < model.Duration(time.Minute) {
		bad("traces.span_metrics_stale_after", "must be at least 1m (series are rewritten once a minute)")
	}
	for i, b := range t.SpanMetricsBuckets {
		if b <= 0 || (i > 0 && b <= t.SpanMetricsBuckets[i-1]) {
			bad("traces.span_metrics_buckets", "bounds must be positive and increasing")
			break
		}
	}
}
