// Package config defines sightline's configuration file: the Prometheus
// sections users already know (global, scrape_configs, rule_files, …) plus
// sightline's own sections, their defaults, validation with errors that name
// the offending key and line, and the effective-config dump.
//
// A *Config is immutable once Load returns; it is safe to share between
// goroutines. Only this package and cmd/ know configuration keys and flags.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of a sightline server.
type Config struct {
	// Prometheus holds the Prometheus-compatible sections (global,
	// scrape_configs, scrape_config_files, rule_files, otlp, …), parsed
	// by Prometheus' own config package so they mean exactly what they
	// mean to Prometheus.
	Prometheus *promconfig.Config `yaml:"-"`

	Server  ServerConfig  `yaml:"server"`
	Metrics MetricsConfig `yaml:"metrics"`
	Query   QueryConfig   `yaml:"query"`
	Limits  LimitsConfig  `yaml:"limits"`
	Events  EventsConfig  `yaml:"events"`
	Rules   RulesConfig   `yaml:"rules"`
	Logs    LogsConfig    `yaml:"logs"`
	Traces  TracesConfig  `yaml:"traces"`
	// Alertmanager routes, groups, silences and delivers notifications.
	Alertmanager Alertmanager `yaml:"alertmanager"`

	// File is the path the configuration was loaded from ("" for defaults).
	File string `yaml:"-"`
	// lines maps "section.key" to the line it was defined on, so that
	// validation errors can point at it.
	lines map[string]int
}

// ServerConfig holds listener and storage locations.
type ServerConfig struct {
	DataDir      string `yaml:"data_dir"`
	HTTPAddr     string `yaml:"http_addr"`
	OTLPGRPCAddr string `yaml:"otlp_grpc_addr"`
	OTLPHTTPAddr string `yaml:"otlp_http_addr"`
	// ExternalURL is how users reach this server; used in links that
	// notifications carry. Derived from HTTPAddr when empty.
	ExternalURL string `yaml:"external_url"`
	LogLevel    string `yaml:"log_level"`
}

// MetricsConfig holds the metric store's settings.
type MetricsConfig struct {
	// Retention is how long samples are kept (0 = only by size).
	Retention model.Duration `yaml:"retention"`
	// RetentionSize bounds the bytes the TSDB may use (0 = only by time).
	RetentionSize ByteSize `yaml:"retention_size"`
	// OutOfOrderWindow accepts samples this much older than a series' newest.
	OutOfOrderWindow model.Duration `yaml:"out_of_order_window"`
	// SelfScrape adds a scrape job "sightline" for the server's own /metrics
	// unless scrape_configs already has a job of that name.
	SelfScrape         *bool          `yaml:"self_scrape"`
	SelfScrapeInterval model.Duration `yaml:"self_scrape_interval"`
}

// QueryConfig bounds what one query may cost.
type QueryConfig struct {
	Timeout        model.Duration `yaml:"timeout"`
	MaxSamples     int            `yaml:"max_samples"`
	MaxConcurrency int            `yaml:"max_concurrency"`
	LookbackDelta  model.Duration `yaml:"lookback_delta"`
}

// LimitsConfig bounds ingest so overload gets back-pressure, not an OOM.
type LimitsConfig struct {
	// MaxRequestBytes bounds one ingest request body, compressed and
	// after decompression.
	MaxRequestBytes ByteSize `yaml:"max_request_bytes"`
	// MaxInflightBytes bounds the decoded bytes of all ingest requests
	// being processed at once, plus a cost per item they carry; beyond it
	// clients get 429 / RESOURCE_EXHAUSTED and retry, and a request that
	// alone would exceed it gets 413.
	MaxInflightBytes ByteSize `yaml:"max_inflight_bytes"`
	// BodyReadTimeout bounds how long a client may take to send a request
	// body (408 after it), so a trickled upload cannot hold its share of
	// max_inflight_bytes indefinitely. 0 = no bound.
	BodyReadTimeout model.Duration `yaml:"body_read_timeout"`
}

// ByteSize is a size in bytes written as "512MB", "1GiB" or a plain number.
type ByteSize int64

// UnmarshalYAML parses sizes like Prometheus' --storage.tsdb.retention.size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML prints the size in the largest exact binary unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	return units.Base2Bytes(b).String()
}

// ParseByteSize parses "512MB", "1GiB", "100KB" or a number of bytes. Units
// are binary (1KB = 1024 bytes), as in Prometheus' flags.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 0 {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return ByteSize(n), nil
	}
	v, err := units.ParseBase2Bytes(strings.Replace(s, "iB", "B", 1))
	if err != nil {
		return 0, fmt.Errorf("invalid size %q (use e.g. 512MB, 10GB)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	return ByteSize(v), nil
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	t := true
	c := &Config{
		Server: ServerConfig{
			DataDir:      "data",
			HTTPAddr:     ":9800",
			OTLPGRPCAddr: ":4317",
			OTLPHTTPAddr: ":4318",
			LogLevel:     "info",
		},
		Metrics: MetricsConfig{
			Retention:          model.Duration(15 * 24 * time.Hour),
			SelfScrape:         &t,
			SelfScrapeInterval: model.Duration(15 * time.Second),
		},
		Query: QueryConfig{
			Timeout:        model.Duration(2 * time.Minute),
			MaxSamples:     50_000_000,
			MaxConcurrency: 20,
			LookbackDelta:  model.Duration(5 * time.Minute),
		},
		Limits: LimitsConfig{
			MaxRequestBytes:  64 << 20,
			MaxInflightBytes: 512 << 20,
			BodyReadTimeout:  model.Duration(2 * time.Minute),
		},
		Events: defaultEvents(),
		Logs:   defaultLogs(),
		Traces: defaultTraces(),
		lines:  map[string]int{},
	}
	pc, err := promconfig.Load("", slog.New(slog.DiscardHandler))
	if err != nil {
		panic(fmt.Sprintf("Prometheus rejects its own empty config: %v", err)) // cannot happen
	}
	c.Prometheus = pc
	return c
}

// sightlineKeys are the top-level keys that belong to sightline; every other
// top-level key is handed to Prometheus' config parser.
var sightlineKeys = map[string]bool{"server": true, "metrics": true, "query": true, "limits": true, "events": true,
	"rules": true, "alertmanager": true, "logs": true, "traces": true}

// LoadFile reads and validates a configuration file.
func LoadFile(path string, logger *slog.Logger) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Load(b, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.File = path
	dir := filepath.Dir(path)
	c.Prometheus.SetDirectory(dir)
	for i, f := range c.Rules.LogRuleFiles {
		if f != "" && !filepath.IsAbs(f) {
			c.Rules.LogRuleFiles[i] = filepath.Join(dir, f)
		}
	}
	if c.Alertmanager.Config != nil {
		for i, f := range c.Alertmanager.Config.Templates {
			if f != "" && !filepath.IsAbs(f) {
				c.Alertmanager.Config.Templates[i] = filepath.Join(dir, f)
			}
		}
	}
	return c, nil
}

// Load parses and validates configuration text. Both halves are parsed
// strictly: an unknown key is an error naming the key and its line.
func Load(text []byte, logger *slog.Logger) (*Config, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	ours, theirs := text, text
	if len(doc.Content) == 1 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: the config must be a mapping of sections (server:, scrape_configs:, …)", root.Line)
		}
		if root.Style&yaml.FlowStyle != 0 {
			return nil, fmt.Errorf("line %d: write the top level of the config in block style, one section per line", root.Line)
		}
		var err error
		ours, theirs, err = splitSections(text, root)
		if err != nil {
			return nil, err
		}
		recordLines(root, "", c.lines)
		if c.Alertmanager, err = loadAlertmanager(text, root); err != nil {
			return nil, err
		}
	}

	dec := yaml.NewDecoder(bytes.NewReader(ours))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	pc, err := promconfig.Load(string(theirs), logger)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	c.Prometheus = pc
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// splitSections returns two copies of text with the same line numbering:
// one where only sightline's sections remain and one where only the
// Prometheus sections remain (the others' lines are blanked), so that each
// parser reports the user's own line numbers.
func splitSections(text []byte, root *yaml.Node) (ours, theirs []byte, err error) {
	lines := strings.SplitAfter(string(text), "\n")
	type span struct {
		start, end int // 0-based line indexes, end exclusive
		ours       bool
	}
	var spans []span
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		s := span{start: k.Line - 1, end: len(lines), ours: sightlineKeys[k.Value]}
		if i+2 < len(root.Content) {
			s.end = root.Content[i+2].Line - 1
		}
		spans = append(spans, s)
	}
	blank := func(keepOurs bool) []byte {
		out := make([]string, len(lines))
		copy(out, lines)
		for _, s := range spans {
			if s.ours == keepOurs {
				continue
			}
			for l := s.start; l < s.end && l < len(out); l++ {
				if strings.HasSuffix(out[l], "\n") {
					out[l] = "\n"
				} else {
					out[l] = ""
				}
			}
		}
		return []byte(strings.Join(out, ""))
	}
	return blank(true), blank(false), nil
}

// recordLines remembers the line of every key two levels deep.
func recordLines(n *yaml.Node, prefix string, into map[string]int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if prefix != "" {
			key = prefix + "." + key
		}
		into[key] = n.Content[i].Line
		if prefix == "" && sightlineKeys[n.Content[i].Value] {
			recordLines(n.Content[i+1], key, into)
		}
	}
}

// Validate checks values that parse but make no sense. Errors name the key
// (and its line when it came from a file).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		where := key
		if l, ok := c.lines[key]; ok {
			where = fmt.Sprintf("line %d: %s", l, key)
		}
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	if c.Server.DataDir == "" {
		bad("server.data_dir", "must not be empty")
	}
	for key, addr := range map[string]string{
		"server.http_addr":      c.Server.HTTPAddr,
		"server.otlp_grpc_addr": c.Server.OTLPGRPCAddr,
		"server.otlp_http_addr": c.Server.OTLPHTTPAddr,
	} {
		if addr == "" && key != "server.http_addr" {
			continue // an empty OTLP address turns that listener off
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not a host:port address (%v)", addr, err)
		}
	}
	if _, err := ParseLogLevel(c.Server.LogLevel); err != nil {
		bad("server.log_level", "%v", err)
	}
	if c.Metrics.Retention < 0 {
		bad("metrics.retention", "must not be negative")
	}
	if c.Metrics.Retention == 0 && c.Metrics.RetentionSize == 0 {
		bad("metrics.retention", "retention and retention_size are both 0: set at least one so the disk cannot fill up")
	}
	if c.Metrics.OutOfOrderWindow < 0 {
		bad("metrics.out_of_order_window", "must not be negative")
	}
	if c.Query.Timeout <= 0 {
		bad("query.timeout", "must be positive")
	}
	if c.Query.MaxSamples <= 0 {
		bad("query.max_samples", "must be positive")
	}
	if c.Query.MaxConcurrency <= 0 {
		bad("query.max_concurrency", "must be positive")
	}
	if c.Query.LookbackDelta <= 0 {
		bad("query.lookback_delta", "must be positive")
	}
	if c.Limits.MaxRequestBytes <= 0 {
		bad("limits.max_request_bytes", "must be positive")
	}
	if c.Limits.MaxInflightBytes < c.Limits.MaxRequestBytes {
		bad("limits.max_inflight_bytes", "must be at least limits.max_request_bytes (%s)", c.Limits.MaxRequestBytes)
	}
	c.Events.validate(bad)
	c.Logs.validate(bad)
	c.Traces.validate(bad)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// ParseLogLevel maps a level name to slog's level.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown log level %q (use debug, info, warn or error)", s)
	}
	return l, nil
}

// SelfScrapeEnabled reports whether the server scrapes its own /metrics.
func (c *Config) SelfScrapeEnabled() bool {
	return c.Metrics.SelfScrape == nil || *c.Metrics.SelfScrape
}

// Dump renders the effective configuration: sightline's sections followed
// by Prometheus' own rendering of its sections (secrets masked).
func (c *Config) Dump() (string, error) {
	ours, err := yaml.Marshal(struct {
		Server  ServerConfig  `yaml:"server"`
		Metrics MetricsConfig `yaml:"metrics"`
		Query   QueryConfig   `yaml:"query"`
		Limits  LimitsConfig  `yaml:"limits"`
		Events  EventsConfig  `yaml:"events"`
		Rules   RulesConfig   `yaml:"rules"`
		Logs    LogsConfig    `yaml:"logs"`
		Traces  TracesConfig  `yaml:"traces"`
		AM      Alertmanager  `yaml:"alertmanager,omitempty"`
	}{c.Server, c.Metrics, c.Query, c.Limits, c.Events, c.Rules, c.Logs, c.Traces, c.Alertmanager})
	if err != nil {
		return "", fmt.Errorf("render config: %w", err)
	}
	return string(ours) + c.Prometheus.String(), nil
}

// SelfScrapeJob is the name of the job that scrapes sightline's own /metrics.
const SelfScrapeJob = "sightline"

// PrometheusWithSelfScrape returns the Prometheus configuration to run: the
// loaded one plus, when enabled and not already defined by the user, a job
// scraping this server's own /metrics at addr (host:port).
func (c *Config) PrometheusWithSelfScrape(addr string) (*promconfig.Config, error) {
	if !c.SelfScrapeEnabled() {
		return c.Prometheus, nil
	}
	for _, s := range c.Prometheus.ScrapeConfigs {
		if s.JobName == SelfScrapeJob {
			return c.Prometheus, nil
		}
	}
	interval := time.Duration(c.Metrics.SelfScrapeInterval)
	if interval <= 0 {
		interval = 15 * time.Second
	}
	text := fmt.Sprintf("job_name: %s\nscrape_interval: %s\nscrape_timeout: %s\nstatic_configs:\n  - targets: [%q]\n",
		SelfScrapeJob, model.Duration(interval), model.Duration(min(interval, 10*time.Second)), addr)
	sc := &promconfig.ScrapeConfig{}
	if err := yamlv2Unmarshal([]byte(text), sc); err != nil {
		return nil, fmt.Errorf("build self-scrape job: %w", err)
	}
	if err := sc.Validate(c.Prometheus.GlobalConfig); err != nil {
		return nil, fmt.Errorf("build self-scrape job: %w", err)
	}
	out := *c.Prometheus
	out.ScrapeConfigs = append(append([]*promconfig.ScrapeConfig(nil), c.Prometheus.ScrapeConfigs...), sc)
	return &out, nil
}
