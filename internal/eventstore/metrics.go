package eventstore

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rowsIngested    prometheus.Counter
	bytesIngested   prometheus.Counter
	rejected        *prometheus.CounterVec
	flushes         prometheus.Counter
	flushFailures   prometheus.Counter
	merges          prometheus.Counter
	mergeFailures   prometheus.Counter
	coldCompactions prometheus.Counter
	partsDropped    prometheus.Counter
	bloomChecks     *prometheus.CounterVec
	blocksRead      prometheus.Counter
	blocksSkipped   *prometheus.CounterVec
	queryDuration   *prometheus.HistogramVec
	walReplayBytes  prometheus.Counter
	// streamsReleased counts streams dropped from the registry once
	// retention removed their last part.
	streamsReleased prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Store) *metrics {
	m := &metrics{
		rowsIngested: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_rows_ingested_total",
			Help: "Rows appended to the event store."}),
		bytesIngested: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_bytes_ingested_total",
			Help: "Encoded bytes of rows appended to the event store (WAL payload bytes)."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_events_rows_rejected_total",
			Help: "Rows refused by Append, by reason."}, []string{"reason"}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_flushes_total",
			Help: "Head flushes into parts."}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_flush_failures_total",
			Help: "Head flushes that failed and will be retried."}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_merges_total",
			Help: "Part merges completed."}),
		mergeFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_merge_failures_total",
			Help: "Part merges that failed."}),
		coldCompactions: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_cold_compactions_total",
			Help: "Merges that wrote their part at the cold zstd level: compactions of quiet partitions and merges of parts already cold (also counted in merges_total)."}),
		partsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_retention_parts_dropped_total",
			Help: "Parts deleted by retention."}),
		bloomChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_events_bloom_checks_total",
			Help: "Bloom filter probes by result: hit (block may match) or skip (block skipped)."}, []string{"result"}),
		blocksRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_blocks_read_total",
			Help: "Blocks whose column data queries read."}),
		blocksSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_events_blocks_skipped_total",
			Help: "Blocks skipped by queries without reading data, by reason."}, []string{"reason"}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sightline_events_query_duration_seconds",
			Help: "Event store query latency by kind.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"kind"}),
		walReplayBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_wal_replayed_bytes_total",
			Help: "WAL payload bytes replayed at start-up."}),
		streamsReleased: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_events_streams_released_total",
			Help: "Streams forgotten after retention deleted the last part holding them."}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.rowsIngested, m.bytesIngested, m.rejected, m.flushes, m.flushFailures, m.merges,
		m.mergeFailures, m.coldCompactions, m.partsDropped, m.bloomChecks, m.blocksRead, m.blocksSkipped, m.queryDuration, m.walReplayBytes,
		m.streamsReleased,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sightline_events_streams",
			Help: "Streams known to the event store (in the head or a part)."}, func() float64 { return float64(s.streams.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sightline_events_parts",
			Help: "On-disk parts."}, func() float64 { return float64(s.Stats().Parts) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sightline_events_disk_bytes",
			Help: "Bytes of on-disk parts."}, func() float64 { return float64(s.Stats().DiskBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sightline_events_head_bytes",
			Help: "Estimated memory of unflushed rows (the budget is events max head bytes)."}, func() float64 { return float64(s.Stats().HeadBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sightline_events_wal_bytes",
			Help: "Bytes of WAL segments on disk."}, func() float64 { return float64(s.Stats().WALBytes) }),
	)
	return m
}
