package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sightline/sightline/internal/agent/buffer"
	"github.com/sightline/sightline/internal/agent/journald"
	"github.com/sightline/sightline/internal/agent/kube"
	"github.com/sightline/sightline/internal/agent/parse"
	"github.com/sightline/sightline/internal/agent/relay"
	"github.com/sightline/sightline/internal/agent/scrape"
	"github.com/sightline/sightline/internal/agent/ship"
	"github.com/sightline/sightline/internal/agent/tail"
)

// Config is the agent's configuration; the YAML file (--config) maps onto
// it and flags override the top-level fields. Example:
//
//	server: http://sightline:9800
//	data_dir: /var/lib/sightline-agent
//	paths: [/var/log/app/*.log, /var/log/pods/*/*/*.log]
//	exclude: ["*.gz"]
//	labels: {env: prod, service: shop}
//	http_addr: 127.0.0.1:9801
//	tail: {poll_interval: 250ms, fingerprint_size: 1024, close_inactive: 5s, start_at_end: false}
//	parse:
//	  format: auto          # auto | plain | cri | docker | container
//	  parse: auto           # auto | json | logfmt | none
//	  multiline: {start_pattern: '^\d{4}-\d{2}-\d{2}', max_lines: 500, max_bytes: 262144, flush_timeout: 1s}
//	  filters:
//	    - {action: drop, regex: 'GET /healthz'}
//	    - {action: keep, field: level, regex: '^(info|warn|error)$'}
//	batch: {max_records: 5000, max_bytes: 1048576, max_wait: 1s}
//	buffer: {max_bytes: 1073741824, segment_bytes: 16777216}
//	ship: {path: /otlp/v1/logs, timeout: 30s, min_backoff: 100ms, max_backoff: 30s, headers: {X-Scope-OrgID: team-a}}
//	kubernetes: {enabled: auto, node_name: node-1, resync_interval: 10m, lookup_timeout: 2s}
//	journald: {enabled: false, units: [nginx.service], start_at_end: true, max_wait: 1s}
//	relay: {http_addr: 127.0.0.1:4318, grpc_addr: 127.0.0.1:4317, signals: [logs, traces, metrics], full_timeout: 5s}
//	metrics:
//	  scrape_interval: 15s
//	  external_labels: {node: node-1}
//	  scrape_configs:       # Prometheus scrape_configs; remote_write defaults to the server
//	    - job_name: node
//	      static_configs: [{targets: ['localhost:9100']}]
type Config struct {
	// Server is the sightline server's base URL (--server).
	Server string `yaml:"server"`
	// Paths are glob patterns of files to tail (--path).
	Paths []string `yaml:"paths"`
	// Exclude are glob patterns removed from Paths (--exclude).
	Exclude []string `yaml:"exclude"`
	// Labels are static resource attributes (--label k=v).
	Labels map[string]string `yaml:"labels"`
	// DataDir holds the positions file, the agent id and the disk buffer.
	DataDir string `yaml:"data_dir"`
	// HTTPAddr serves /metrics when not empty (--http-addr).
	HTTPAddr string `yaml:"http_addr"`
	// Once reads what exists, ships it, waits for acknowledgement and
	// returns (--once).
	Once bool `yaml:"-"`
	// CheckpointInterval is how often acknowledged positions are written.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// PositionsRetention is how long the position of a file that has
	// vanished is kept (it may come back, e.g. a remounted volume).
	PositionsRetention time.Duration `yaml:"positions_retention"`

	Tail   tail.Options   `yaml:"tail"`
	Parse  parse.Options  `yaml:"parse"`
	Batch  BatchOptions   `yaml:"batch"`
	Buffer buffer.Options `yaml:"buffer"`
	Ship   ship.Options   `yaml:"ship"`
	// Kubernetes adds pod metadata from the API server to pod logs.
	Kubernetes kube.Options `yaml:"kubernetes"`
	// Journald reads the systemd journal through journalctl.
	Journald journald.Options `yaml:"journald"`
	// Relay is a local OTLP endpoint for applications' logs.
	Relay relay.Options `yaml:"relay"`
	// Metrics scrapes Prometheus targets and remote-writes the samples.
	Metrics scrape.Options `yaml:"metrics"`
}

// BatchOptions bounds a batch.
type BatchOptions struct {
	MaxRecords int           `yaml:"max_records"`
	MaxBytes   int           `yaml:"max_bytes"`
	MaxWait    time.Duration `yaml:"max_wait"`
}

// DefaultConfig returns a configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		CheckpointInterval: time.Second,
		PositionsRetention: 24 * time.Hour,
		Tail:               tail.DefaultOptions(),
		Parse:              parse.DefaultOptions(),
		Batch:              BatchOptions{MaxRecords: 5000, MaxBytes: 1 << 20, MaxWait: time.Second},
		Buffer:             buffer.DefaultOptions(),
		Ship:               ship.DefaultOptions(),
		Kubernetes:         kube.DefaultOptions(),
		Journald:           journald.DefaultOptions(),
		Relay:              relay.DefaultOptions(),
		Metrics:            scrape.DefaultOptions(),
	}
}

// LoadConfig reads a YAML file over the defaults; unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read agent config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // an empty file keeps the defaults
		return cfg, fmt.Errorf("parse agent config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseLabel parses "k=v".
func ParseLabel(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("parse label %q: want key=value", s)
	}
	return k, v, nil
}

// apply copies the top-level fields into the component options.
func (c Config) resolved() Config {
	c.Tail.Include = c.Paths
	c.Tail.Exclude = c.Exclude
	c.Tail.ReportsAcks = true // the shipper passes acknowledged positions on
	c.Parse.Labels = c.Labels
	c.Ship.Server = c.Server
	c.Metrics.Dir = filepath.Join(c.DataDir, "metrics")
	c.Metrics.Server, c.Metrics.Headers = c.Server, c.Ship.Headers
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	r := c.resolved()
	if r.DataDir == "" {
		return errors.New("validate agent config: no data directory (set --data-dir)")
	}
	if r.CheckpointInterval <= 0 || r.PositionsRetention <= 0 {
		return errors.New("validate agent config: checkpoint_interval and positions_retention must be positive")
	}
	if r.Batch.MaxRecords < 1 || r.Batch.MaxBytes < 1 || r.Batch.MaxWait <= 0 {
		return errors.New("validate agent config: batch max_records, max_bytes and max_wait must be positive")
	}
	var tailErr error
	switch {
	case len(r.Paths) > 0:
		tailErr = r.Tail.Validate()
	case !r.Journald.Enabled && !r.Relay.Enabled() && !r.Metrics.Enabled():
		tailErr = errors.New("validate agent config: no input (set --path, --journald, --otlp-addr or metrics.scrape_configs)")
	}
	return errors.Join(tailErr, r.Parse.Validate(), r.Buffer.Validate(), r.Ship.Validate(), r.Kubernetes.Validate(), r.Journald.Validate(), r.Relay.Validate(), r.Metrics.Validate())
}
