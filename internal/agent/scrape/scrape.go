// Package scrape makes the agent a metrics forwarder (the vmagent / Alloy
// job): it scrapes Prometheus targets with the server's scrape code
// (internal/scrape: Prometheus' discovery and scrape managers, standard
// scrape_configs), appends the samples to Prometheus' agent-mode WAL
// (tsdb/agent), and ships them with Prometheus' remote-write queue
// (storage/remote) to the sightline server's /api/v1/write, or to any
// remote_write endpoints configured. The WAL holds samples while the server
// is down (up to the WAL's max age) and the queue resends them in order.
//
// A *Forwarder runs once (Run); it is not meant for concurrent use.
package scrape

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/agent"
	"go.yaml.in/yaml/v3"

	serverscrape "github.com/sightline/sightline/internal/scrape"
)

// WritePath is the server's remote-write path.
const WritePath = "/api/v1/write"

// Options configures the forwarder. ScrapeConfigs and RemoteWrite are
// Prometheus configuration sections, passed to Prometheus' own parser.
type Options struct {
	// ScrapeInterval and ScrapeTimeout are the global defaults.
	ScrapeInterval time.Duration `yaml:"scrape_interval"`
	ScrapeTimeout  time.Duration `yaml:"scrape_timeout"`
	// ExternalLabels are added to every series sent.
	ExternalLabels map[string]string `yaml:"external_labels"`
	// ScrapeConfigs is a Prometheus scrape_configs list; empty disables
	// the forwarder.
	ScrapeConfigs yaml.Node `yaml:"scrape_configs"`
	// RemoteWrite is a Prometheus remote_write list; empty: the agent's
	// server (Server + /api/v1/write, with the ship headers).
	RemoteWrite yaml.Node `yaml:"remote_write"`
	// MaxWALTime is how long samples are kept while they cannot be sent.
	MaxWALTime time.Duration `yaml:"max_wal_time"`

	// Dir holds the WAL (set by the agent: data_dir/metrics).
	Dir string `yaml:"-"`
	// Server and Headers describe the default remote-write target.
	Server  string            `yaml:"-"`
	Headers map[string]string `yaml:"-"`
}

// DefaultOptions returns the defaults (forwarder disabled).
func DefaultOptions() Options {
	return Options{ScrapeInterval: 15 * time.Second, ScrapeTimeout: 10 * time.Second, MaxWALTime: 4 * time.Hour}
}

// Enabled reports whether scrape_configs are set.
func (o *Options) Enabled() bool {
	return o.ScrapeConfigs.Kind != 0 && len(o.ScrapeConfigs.Content) > 0
}

// Validate checks the options, including the Prometheus sections.
func (o *Options) Validate() error {
	if !o.Enabled() {
		return nil
	}
	if o.ScrapeInterval <= 0 || o.ScrapeTimeout <= 0 || o.MaxWALTime <= 0 {
		return errors.New("validate metrics options: scrape_interval, scrape_timeout and max_wal_time must be positive")
	}
	_, err := o.PromConfig()
	return err
}

// PromConfig builds the Prometheus configuration these options describe.
func (o *Options) PromConfig() (*promconfig.Config, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) {
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
	}
	global := map[string]any{"scrape_interval": promDuration(o.ScrapeInterval), "scrape_timeout": promDuration(min(o.ScrapeTimeout, o.ScrapeInterval))}
	if len(o.ExternalLabels) > 0 {
		global["external_labels"] = o.ExternalLabels
	}
	var g yaml.Node
	if err := g.Encode(global); err != nil {
		return nil, fmt.Errorf("encode metrics global section: %w", err)
	}
	add("global", &g)
	sc := o.ScrapeConfigs
	add("scrape_configs", &sc)
	if o.RemoteWrite.Kind != 0 && len(o.RemoteWrite.Content) > 0 {
		rw := o.RemoteWrite
		add("remote_write", &rw)
	} else {
		if o.Server == "" {
			return nil, errors.New("validate metrics options: no remote_write and no server to send to (set --server)")
		}
		u, err := url.Parse(strings.TrimSuffix(o.Server, "/") + WritePath)
		if err != nil {
			return nil, fmt.Errorf("validate metrics options: server %q: %w", o.Server, err)
		}
		entry := map[string]any{"url": u.String(), "name": "sightline",
			"queue_config": map[string]any{"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "5s"}}
		if len(o.Headers) > 0 {
			entry["headers"] = o.Headers
		}
		var rw yaml.Node
		if err := rw.Encode([]any{entry}); err != nil {
			return nil, fmt.Errorf("encode metrics remote_write: %w", err)
		}
		add("remote_write", &rw)
	}
	text, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode metrics config: %w", err)
	}
	cfg, err := promconfig.Load(string(text), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("validate metrics options (scrape_configs / remote_write): %w", err)
	}
	return cfg, nil
}

// promDuration renders d the way Prometheus parses durations.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// Forwarder scrapes and forwards.
type Forwarder struct {
	opts Options
	cfg  *promconfig.Config
	log  *slog.Logger
	reg  prometheus.Registerer
}

// New validates opts and returns a forwarder.
func New(opts Options, log *slog.Logger, reg prometheus.Registerer) (*Forwarder, error) {
	if !opts.Enabled() {
		return nil, errors.New("create metrics forwarder: no scrape_configs")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("create metrics forwarder: no WAL directory")
	}
	cfg, _ := opts.PromConfig()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{opts: opts, cfg: cfg, log: log, reg: reg}, nil
}

// Jobs returns the configured job names.
func (f *Forwarder) Jobs() []string {
	var jobs []string
	for _, sc := range f.cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	return jobs
}

// readyScrapeManager hands the remote-write queue the scrape manager (for
// metadata) once it exists.
type readyScrapeManager struct {
	mu sync.Mutex
	m  *promscrape.Manager
}

func (r *readyScrapeManager) Get() (*promscrape.Manager, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil, errors.New("scrape manager not ready")
	}
	return r.m, nil
}

// Run scrapes and forwards until ctx ends, then stops scraping, flushes
// what the queue can send within a few seconds and closes the WAL (what
// was not sent is sent after the next start).
func (f *Forwarder) Run(ctx context.Context) (err error) {
	reg := f.reg
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	ready := &readyScrapeManager{}
	var db *agent.DB
	startTime := func() (int64, error) {
		if db == nil {
			return 0, nil
		}
		return db.StartTime()
	}
	rs := remote.NewStorage(f.log.With("component", "remote"), reg, startTime, f.opts.Dir, 5*time.Second, ready, false)
	defer func() { err = errors.Join(err, rs.Close()) }()
	aopts := agent.DefaultOptions()
	aopts.MaxWALTime = f.opts.MaxWALTime.Milliseconds()
	db, err = agent.Open(f.log.With("component", "wal"), reg, rs, f.opts.Dir, aopts)
	if err != nil {
		return fmt.Errorf("open metrics WAL in %s: %w", f.opts.Dir, err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	db.SetWriteNotified(rs)
	if err := rs.ApplyConfig(f.cfg); err != nil {
		return fmt.Errorf("apply remote_write config: %w", err)
	}
	sm, err := serverscrape.New(db, f.log, reg)
	if err != nil {
		return err
	}
	ready.mu.Lock()
	ready.m = sm.Targets()
	ready.mu.Unlock()
	if err := sm.ApplyConfig(f.cfg); err != nil {
		return err
	}
	sm.Start()
	f.log.Info("metrics forwarder started", "jobs", f.Jobs(), "remote_write", slices.Collect(maps.Keys(remoteURLs(f.cfg))))
	<-ctx.Done()
	sm.Stop()
	return nil
}

func remoteURLs(cfg *promconfig.Config) map[string]bool {
	m := map[string]bool{}
	for _, rw := range cfg.RemoteWriteConfigs {
		m[rw.URL.Redacted()] = true
	}
	return m
}
