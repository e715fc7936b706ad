package app

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/eventstore/wal"
)

// EventsDir is where the event store keeps logs and spans under the data dir.
func EventsDir(dataDir string) string { return filepath.Join(dataDir, "events") }

// openEvents opens the event store (logs and spans) with the configured
// retention, fsync policy and memory budget, replaying its WAL.
func openEvents(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) (*eventstore.Store, error) {
	e := cfg.Events
	opts := eventstore.DefaultOptions()
	opts.Retention = time.Duration(e.Retention)
	if e.Retention <= 0 {
		opts.Retention = -1 // keep by size only
	}
	opts.MaxDiskBytes = int64(e.RetentionSize)
	opts.MaxHeadBytes = int64(e.MaxHeadBytes)
	opts.MaxFuture = time.Duration(e.MaxFuture)
	opts.ColdAfter = time.Duration(e.CompactAfter)
	if e.CompactAfter == 0 {
		opts.ColdAfter = -1 // never
	}
	opts.WAL.Sync = wal.SyncPolicy(e.Fsync)
	opts.WAL.SyncInterval = time.Duration(e.FsyncInterval)
	opts.Registerer = reg
	opts.Logger = logger.With("component", "eventstore")
	return eventstore.Open(EventsDir(cfg.Server.DataDir), opts)
}
