// Package app wires sightline's server together and owns its lifecycle:
// stores open first and close last; listeners start last and stop first, so
// no request ever reaches a closed store. New builds everything (cleaning
// up on failure), Start serves, Stop shuts down in reverse order.
//
// An *App's methods are safe for concurrent use.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/promql"
	promparser "github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/grpc"

	"github.com/sightline/sightline/internal/api/dashboards"
	"github.com/sightline/sightline/internal/api/prom"
	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/httpserver"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/ingest/otlp"
	"github.com/sightline/sightline/internal/ingest/promrw"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/metricstore"
	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/scrape"
	"github.com/sightline/sightline/internal/ui"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	Version, Revision, Branch, BuildDate, GoVersion string
}

// App is a running sightline server.
type App struct {
	logger  *slog.Logger
	reg     *prometheus.Registry
	build   BuildInfo
	started time.Time

	mu  sync.RWMutex
	cfg *config.Config // guarded by mu; replaced on reload
	// promCfg is the Prometheus half in force (with the self-scrape job).
	promCfg *promconfig.Config // guarded by mu

	metrics    *metricstore.Store
	events     *eventstore.Store
	otlpWriter *metricstore.OTLPWriter
	scrape     *scrape.Manager
	limiter    *ingest.Limiter
	engine     *promql.Engine
	extURL     *url.URL // how users reach this server (links in notifications)
	// rules lists rule groups and alerts for the Prometheus API; nil until
	// the alerts pillar sets it.
	rules  func(context.Context) prom.RulesRetriever
	alerts *alerting // the alerts pillar's rule managers and notifier
	// logEngine evaluates LogQL over the log store (set by the logs pillar,
	// shared by the Loki API and log alerting rules).
	logEngine *logql.Engine

	// pillarStops are the pillars' shutdown steps (flush pending span
	// metrics, stop rules, snapshot silences …), run in reverse order
	// after the listeners stop and before the stores close.
	pillarStops []func(context.Context) error

	httpSrv     *httpserver.Server
	otlpHTTPSrv *httpserver.Server // nil when disabled
	grpcSrv     *grpc.Server
	grpcLn      net.Listener // nil when disabled

	// loader re-reads the configuration (file plus flags) for reloads; set
	// by cmd through SetConfigLoader.
	loader func() (*config.Config, error)

	ready atomic.Bool
	stop  sync.Once
}

// SetConfigLoader tells the app how to re-read its configuration (the file
// with the command line's overrides) for SIGHUP and POST /-/reload.
func (a *App) SetConfigLoader(f func() (*config.Config, error)) {
	a.mu.Lock()
	a.loader = f
	a.mu.Unlock()
}

// ReloadFromFile re-reads the configuration and applies it; on error the
// configuration in force stays.
func (a *App) ReloadFromFile() error { return a.reloadFromFile() }

func (a *App) reloadFromFile() error {
	a.mu.RLock()
	load := a.loader
	a.mu.RUnlock()
	if load == nil {
		return errors.New("reload: the server was started without --config")
	}
	cfg, err := load()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return a.Reload(cfg)
}

// New opens the stores and binds the listeners. Nothing is served until
// Start. On error everything opened so far is closed again.
func New(cfg *config.Config, flags map[string]string, build BuildInfo, logger *slog.Logger) (_ *App, err error) {
	// a is a local, not the named result: the cleanups below close over it
	// and run after a failing return has set the result to nil.
	a := &App{logger: logger, cfg: cfg, build: build, started: time.Now(), reg: prometheus.NewRegistry()}
	var cleanups []func() error
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				err = errors.Join(err, cleanups[i]())
			}
		}
	}()
	a.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sightline_build_info",
		Help:        "Always 1; labels tell the build.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion},
	})
	buildInfo.Set(1)
	a.reg.MustRegister(buildInfo)

	dataDir := cfg.Server.DataDir
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir (server.data_dir / --data-dir): %w", err)
	}

	// Stores.
	metricsDir := filepath.Join(dataDir, "metrics")
	a.metrics, err = metricstore.Open(metricsDir, metricstore.Options{
		Retention:        time.Duration(cfg.Metrics.Retention),
		RetentionSize:    int64(cfg.Metrics.RetentionSize),
		OutOfOrderWindow: time.Duration(cfg.Metrics.OutOfOrderWindow),
	}, logger, a.reg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, a.metrics.Close)

	a.events, err = openEvents(cfg, logger, a.reg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, a.events.Close)

	a.otlpWriter, err = metricstore.NewOTLPWriter(a.metrics, a.prometheusConfig, metricstore.OTLPWriterOptions{
		LookbackDelta: time.Duration(cfg.Query.LookbackDelta),
	}, logger.With("component", "otlp-metrics"), a.reg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() error { return a.otlpWriter.Shutdown(context.Background()) })

	// Query.
	var parser promparser.Parser
	a.engine, parser, err = prom.NewEngine(dataDir, time.Duration(cfg.Query.Timeout), cfg.Query.MaxSamples,
		cfg.Query.MaxConcurrency, time.Duration(cfg.Query.LookbackDelta), logger, a.reg)
	if err != nil {
		return nil, err
	}

	// Pull.
	a.scrape, err = scrape.New(a.metrics, logger, a.reg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() error { a.scrape.Stop(); return nil })

	// Edges.
	a.limiter = ingest.NewLimiter(int64(cfg.Limits.MaxInflightBytes), a.reg)
	maxReq := int64(cfg.Limits.MaxRequestBytes)
	receiver := otlp.NewReceiver(otlp.Receiver{
		Metrics:         a.otlpWriter,
		MaxRequestBytes: maxReq,
		Limiter:         a.limiter,
		Logger:          logger.With("component", "otlp"),
	}, a.reg)

	mux := http.NewServeMux()
	cleanups = append(cleanups, func() error { return a.stopPillars(context.Background()) })
	if err := a.setupLogs(mux, receiver); err != nil {
		return nil, err
	}
	if err := a.setupTraces(mux, receiver); err != nil {
		return nil, err
	}
	a.httpSrv, err = httpserver.Listen("http", cfg.Server.HTTPAddr, nil, logger)
	if err != nil {
		return nil, fmt.Errorf("%w (server.http_addr / --http-addr)", err)
	}
	cleanups = append(cleanups, func() error { return a.httpSrv.Shutdown(context.Background()) })

	a.extURL, err = a.externalURL()
	if err != nil {
		return nil, err
	}
	if err := a.setupAlerts(mux); err != nil {
		return nil, err
	}
	dash, err := dashboards.New(filepath.Join(dataDir, "dashboards"), logger.With("component", "dashboards"))
	if err != nil {
		return nil, err
	}
	dash.Register(mux)
	promAPI := prom.New(prom.Options{
		Engine:      a.engine,
		Rules:       a.rules,
		Parser:      parser,
		Storage:     a.metrics,
		Dir:         metricsDir,
		Targets:     a.scrape.Targets(),
		Config:      func() promconfig.Config { return *a.prometheusConfig() },
		Flags:       flags,
		ListenAddr:  a.httpSrv.Addr(),
		ExternalURL: a.extURL,
		Ready:       a.ready.Load,
		Logger:      logger,
		Gatherer:    a.reg,
		Registerer:  a.reg,
		Lookback:    time.Duration(cfg.Query.LookbackDelta),
		Timeout:     time.Duration(cfg.Query.Timeout),
		Retention:   retentionString(cfg),
		Version: prom.Version{Version: build.Version, Revision: build.Revision, Branch: build.Branch,
			BuildDate: build.BuildDate, GoVersion: build.GoVersion, BuildUser: "sightline"},
		StartTime: a.started,
	})
	mux.Handle("/api/v1/", promAPI)
	mux.Handle("POST /api/v1/write", promrw.Guard(promAPI, maxReq, a.limiter))
	receiver.Register(mux, "/otlp")        // OTLP/HTTP on the main port
	receiver.Register(mux, "/api/v1/otlp") // where Prometheus users send OTLP
	httpserver.RegisterOps(mux, a.reg, a.Ready)
	mux.Handle("/", ui.Handler()) // the web UI; every other route is more specific
	httpMetrics := httpserver.NewMetrics(a.reg)
	// RequestContext carries the tenant and the agent's batch id from the
	// HTTP headers to the sinks (OTLP gets them from gRPC metadata).
	bodyTimeout := time.Duration(cfg.Limits.BodyReadTimeout)
	a.httpSrv.SetHandler(httpserver.BodyDeadline(httpMetrics.Middleware("http", logstore.RequestContext(mux), routeName(mux), logger), bodyTimeout))

	if cfg.Server.OTLPHTTPAddr != "" {
		omux := http.NewServeMux()
		receiver.Register(omux, "")
		a.otlpHTTPSrv, err = httpserver.Listen("otlp-http", cfg.Server.OTLPHTTPAddr, nil, logger)
		if err != nil {
			return nil, fmt.Errorf("%w (server.otlp_http_addr / --otlp-http-addr)", err)
		}
		cleanups = append(cleanups, func() error { return a.otlpHTTPSrv.Shutdown(context.Background()) })
		a.otlpHTTPSrv.SetHandler(httpserver.BodyDeadline(httpMetrics.Middleware("otlp-http", logstore.RequestContext(omux), routeName(omux), logger), bodyTimeout))
	}
	if cfg.Server.OTLPGRPCAddr != "" {
		a.grpcLn, err = net.Listen("tcp", cfg.Server.OTLPGRPCAddr)
		if err != nil {
			return nil, fmt.Errorf("listen for OTLP gRPC on %s: %w (server.otlp_grpc_addr / --otlp-grpc-addr)", cfg.Server.OTLPGRPCAddr, err)
		}
		cleanups = append(cleanups, a.grpcLn.Close)
		a.grpcSrv = ingest.NewGRPCServer(maxReq, a.limiter, logger)
		receiver.RegisterGRPC(a.grpcSrv)
	}
	return a, nil
}

// Start applies the configuration and begins serving.
func (a *App) Start() error {
	a.mu.Lock()
	pc, err := a.cfg.PrometheusWithSelfScrape(a.selfAddr())
	if err == nil {
		a.promCfg = pc
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if err := a.scrape.ApplyConfig(pc); err != nil {
		return err
	}
	a.scrape.Start()
	a.httpSrv.Serve()
	if a.otlpHTTPSrv != nil {
		a.otlpHTTPSrv.Serve()
	}
	if a.grpcSrv != nil {
		a.logger.Info("listening", "listener", "otlp-grpc", "addr", a.grpcLn.Addr().String())
		go func() {
			if err := a.grpcSrv.Serve(a.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				a.logger.Error("OTLP gRPC listener stopped", "err", err)
			}
		}()
	}
	a.ready.Store(true)
	a.logger.Info("sightline is ready", "http", "http://"+a.httpSrv.Addr(), "data_dir", a.cfg.Server.DataDir)
	return nil
}

// Reload applies a new configuration's reloadable parts (scrape configs).
// Listener addresses and the data directory need a restart; a change to
// them is reported and otherwise ignored.
func (a *App) Reload(cfg *config.Config) error {
	a.mu.Lock()
	old := a.cfg
	if old.Server != cfg.Server {
		a.logger.Warn("server section changed; listener and data-dir changes take effect after a restart")
	}
	pc, err := cfg.PrometheusWithSelfScrape(a.selfAddr())
	if err != nil {
		a.mu.Unlock()
		return err
	}
	a.cfg, a.promCfg = cfg, pc
	a.mu.Unlock()
	if err := a.scrape.ApplyConfig(pc); err != nil {
		return err
	}
	if err := a.reloadAlerts(cfg); err != nil {
		return err
	}
	a.logger.Info("configuration reloaded", "file", cfg.File)
	return nil
}

// Stop shuts down in reverse start order: listeners (draining in-flight
// requests until ctx ends), then scraping, then the stores, which flush.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	a.stop.Do(func() {
		a.ready.Store(false)
		if a.grpcSrv != nil {
			done := make(chan struct{})
			go func() { a.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				a.grpcSrv.Stop()
			}
		}
		if a.otlpHTTPSrv != nil {
			errs = append(errs, a.otlpHTTPSrv.Shutdown(ctx))
		}
		errs = append(errs, a.httpSrv.Shutdown(ctx))
		errs = append(errs, a.stopPillars(ctx))
		a.scrape.Stop()
		errs = append(errs, a.otlpWriter.Shutdown(ctx))
		errs = append(errs, a.events.Close())
		errs = append(errs, a.metrics.Close())
		a.logger.Info("sightline stopped")
	})
	return errors.Join(errs...)
}

// onStop registers a pillar's shutdown step (see pillarStops).
func (a *App) onStop(f func(context.Context) error) { a.pillarStops = append(a.pillarStops, f) }

// stopPillars runs the pillars' shutdown steps once, newest first.
func (a *App) stopPillars(ctx context.Context) error {
	var errs []error
	for i := len(a.pillarStops) - 1; i >= 0; i-- {
		errs = append(errs, a.pillarStops[i](ctx))
	}
	a.pillarStops = nil
	return errors.Join(errs...)
}

// Ready reports whether every store is open and the server is serving.
func (a *App) Ready() bool { return a.ready.Load() && a.metrics.Ready() && a.events.Ready() }

// HTTPAddr is the bound address of the main HTTP listener.
func (a *App) HTTPAddr() string { return a.httpSrv.Addr() }

// OTLPGRPCAddr is the bound OTLP gRPC address ("" when disabled).
func (a *App) OTLPGRPCAddr() string {
	if a.grpcLn == nil {
		return ""
	}
	return a.grpcLn.Addr().String()
}

// OTLPHTTPAddr is the bound OTLP HTTP address ("" when disabled).
func (a *App) OTLPHTTPAddr() string {
	if a.otlpHTTPSrv == nil {
		return ""
	}
	return a.otlpHTTPSrv.Addr()
}

func (a *App) prometheusConfig() *promconfig.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.promCfg != nil {
		return a.promCfg
	}
	return a.cfg.Prometheus
}

// selfAddr is how the server scrapes itself: the bound port on loopback
// when it listens on all interfaces.
func (a *App) selfAddr() string {
	host, port, _ := net.SplitHostPort(a.httpSrv.Addr())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (a *App) externalURL() (*url.URL, error) {
	if a.cfg.Server.ExternalURL != "" {
		u, err := url.Parse(a.cfg.Server.ExternalURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("server.external_url %q is not an absolute URL", a.cfg.Server.ExternalURL)
		}
		return u, nil
	}
	return &url.URL{Scheme: "http", Host: a.selfAddr()}, nil
}

func retentionString(cfg *config.Config) string {
	var parts []string
	if cfg.Metrics.Retention > 0 {
		parts = append(parts, cfg.Metrics.Retention.String())
	}
	if cfg.Metrics.RetentionSize > 0 {
		parts = append(parts, cfg.Metrics.RetentionSize.String())
	}
	return strings.Join(parts, " or ")
}

// apiRoutes are the first path segments under /api/v1/ that get their own
// request metrics; anything else is counted as "/api/v1/other" so that
// random paths cannot blow up the metrics' cardinality.
var apiRoutes = map[string]bool{
	"query": true, "query_range": true, "query_exemplars": true, "series": true, "labels": true,
	"label": true, "metadata": true, "targets": true, "status": true, "format_query": true,
	"parse_query": true, "rules": true, "alerts": true, "read": true, "scrape_pools": true,
}

// routeName names a request for metrics by the pattern that serves it.
func routeName(mux *http.ServeMux) func(*http.Request) string {
	return func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		switch pattern {
		case "":
			return "other"
		case "/api/v1/":
			seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
			if apiRoutes[seg] {
				return "/api/v1/" + seg
			}
			return "/api/v1/other"
		}
		return pattern
	}
}
