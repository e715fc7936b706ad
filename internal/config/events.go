package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// EventsConfig configures the event store that keeps logs and spans.
type EventsConfig struct {
	// Retention drops whole day partitions older than this; rows older
	// than it are refused.
	Retention model.Duration `yaml:"retention"`
	// RetentionSize drops the oldest partitions while the store is larger
	// (0 = no size limit).
	RetentionSize ByteSize `yaml:"retention_size"`
	// Fsync is when the WAL is fsynced: "always" (a write is acknowledged
	// only after its fsync, shared by concurrent writers), "interval"
	// (every fsync_interval; a crash of the machine, not of the process,
	// can lose the last interval) or "none".
	Fsync         string         `yaml:"fsync"`
	FsyncInterval model.Duration `yaml:"fsync_interval"`
	// MaxHeadBytes bounds memory for rows not yet written to parts; beyond
	// it writers get 429 / RESOURCE_EXHAUSTED.
	MaxHeadBytes ByteSize `yaml:"max_head_bytes"`
	// MaxFuture refuses rows further ahead of the server's clock.
	MaxFuture model.Duration `yaml:"max_future"`
	// CompactAfter rewrites a day partition's parts at a higher zstd level
	// once it has received no rows for this long (0 = never).
	CompactAfter model.Duration `yaml:"compact_after"`
}

func defaultEvents() EventsConfig {
	return EventsConfig{
		Retention:     model.Duration(30 * 24 * time.Hour),
		Fsync:         "always",
		FsyncInterval: model.Duration(time.Second),
		MaxHeadBytes:  512 << 20,
		MaxFuture:     model.Duration(time.Hour),
		CompactAfter:  model.Duration(10 * time.Minute),
	}
}

func (e EventsConfig) validate(bad func(key, format string, args ...any)) {
	if e.Retention <= 0 && e.RetentionSize <= 0 {
		bad("events.retention", "retention and retention_size are both 0: set at least one so the disk cannot fill up")
	}
	switch e.Fsync {
	case "always", "interval", "none":
	default:
		bad("events.fsync", "%q is not a policy (use always, interval or none)", e.Fsync)
	}
	if e.Fsync == "interval" && e.FsyncInterval <= 0 {
		bad("events.fsync_interval", "must be positive with fsync: interval")
	}
	if e.MaxHeadBytes < 1<<20 {
		bad("events.max_head_bytes", "must be at least 1MB")
	}
	if e.MaxFuture < 0 {
		bad("events.max_future", "must not be negative")
	}
}
