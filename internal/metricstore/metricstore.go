// Package metricstore keeps sightline's metrics in an embedded Prometheus
// TSDB (its WAL, head, blocks, compaction and retention) and translates OTLP
// metrics into Prometheus series the way Prometheus' own OTLP receiver does.
//
// A *Store is safe for concurrent use. Appends are durable against a process
// crash once Commit returns: the TSDB writes each commit's WAL records to the
// operating system before Commit returns.
package metricstore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// Options configure the store. Zero values take the defaults noted.
type Options struct {
	// Retention is how long samples are kept; 0 means by size only.
	Retention time.Duration
	// RetentionSize bounds the bytes of blocks, WAL and chunks; 0 means by
	// time only.
	RetentionSize int64
	// OutOfOrderWindow accepts samples this much older than a series' head.
	OutOfOrderWindow time.Duration
	// MaxExemplars is the size of the in-memory exemplar ring (default 100k).
	MaxExemplars int64
}

// Validate rejects settings that cannot work.
func (o Options) Validate() error {
	if o.Retention < 0 || o.RetentionSize < 0 || o.OutOfOrderWindow < 0 || o.MaxExemplars < 0 {
		return errors.New("metric store options must not be negative")
	}
	if o.Retention == 0 && o.RetentionSize == 0 {
		return errors.New("metric store needs a retention time or size")
	}
	return nil
}

// Store is the metric store. It implements storage.Storage (via the embedded
// TSDB) plus the TSDB admin and exemplar interfaces the Prometheus API uses.
type Store struct {
	*tsdb.DB
	dir    string
	ready  atomic.Bool
	logger *slog.Logger
	stats  *tsdb.DBStats
}

// Open opens (or creates) the TSDB in dir, replaying its WAL.
func Open(dir string, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	to := tsdb.DefaultOptions()
	to.RetentionDuration = opts.Retention.Milliseconds()
	to.MaxBytes = opts.RetentionSize
	to.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	to.EnableExemplarStorage = true
	to.MaxExemplars = opts.MaxExemplars
	if to.MaxExemplars == 0 {
		to.MaxExemplars = 100_000
	}
	stats := tsdb.NewDBStats()
	db, err := tsdb.Open(dir, logger.With("component", "tsdb"), reg, to, stats)
	if err != nil {
		return nil, fmt.Errorf("open metric store in %s: %w", dir, err)
	}
	s := &Store{DB: db, dir: dir, logger: logger, stats: stats}
	s.ready.Store(true)
	return s, nil
}

// Dir is the TSDB's directory.
func (s *Store) Dir() string { return s.dir }

// Ready reports whether the store is open for reads and writes.
func (s *Store) Ready() bool { return s.ready.Load() }

// Close flushes the head and closes the TSDB.
func (s *Store) Close() error {
	s.ready.Store(false)
	if err := s.DB.Close(); err != nil {
		return fmt.Errorf("close metric store: %w", err)
	}
	return nil
}

// BlockMetas lists the persisted blocks (for /api/v1/status/tsdb/blocks).
func (s *Store) BlockMetas() ([]tsdb.BlockMeta, error) {
	return s.DB.BlockMetas(), nil
}

// Stats reports head cardinality (for /api/v1/status/tsdb).
func (s *Store) Stats(statsByLabelName string, limit int) (*tsdb.Stats, error) {
	return s.DB.Head().Stats(statsByLabelName, limit), nil
}

// WALReplayStatus reports WAL replay progress (for /api/v1/status/walreplay).
func (s *Store) WALReplayStatus() (tsdb.WALReplayStatus, error) {
	return s.stats.Head.WALReplayStatus.GetWALReplayStatus(), nil
}

var _ storage.Storage = (*Store)(nil)
