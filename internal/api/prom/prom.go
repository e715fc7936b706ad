// Package prom serves the Prometheus HTTP API (/api/v1/query, query_range,
// series, labels, metadata, targets, status/*, format_query, remote write …)
// by mounting Prometheus' own API implementation over sightline's metric
// store, query engine and scrape manager, so the JSON, the errors and the
// edge cases are exactly Prometheus', and Grafana and promtool work
// unchanged.
//
// The handler is safe for concurrent use.
package prom

import (
	"context"
	"fmt"
	"github.com/grafana/regexp"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/route"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/notifications"
	apiv1 "github.com/prometheus/prometheus/web/api/v1"
)

// Storage is what the API reads and writes: the metric store.
type Storage interface {
	storage.Storage
	storage.ExemplarQueryable
	apiv1.TSDBAdminStats
}

// RulesRetriever lists rule groups and alerting rules (the rules manager).
type RulesRetriever = apiv1.RulesRetriever

// Options wire the API to the rest of the server.
type Options struct {
	Engine      promql.QueryEngine
	Parser      parser.Parser
	Storage     Storage
	Dir         string // the TSDB directory (for status/tsdb)
	Targets     *promscrape.Manager
	Rules       func(context.Context) RulesRetriever // nil: no rules loaded
	Config      func() promconfig.Config
	Flags       map[string]string
	ListenAddr  string
	ExternalURL *url.URL
	Ready       func() bool
	Logger      *slog.Logger
	Gatherer    prometheus.Gatherer
	Registerer  prometheus.Registerer
	Lookback    time.Duration
	Timeout     time.Duration
	Retention   string
	Version     Version
	StartTime   time.Time
}

// Version is what /api/v1/status/buildinfo reports.
type Version = apiv1.PrometheusVersion

// NewEngine returns a PromQL engine with Prometheus' defaults (@ modifier and
// negative offsets on) bounded by timeout, maxSamples and maxConcurrent
// queries (tracked in dir, so queries running at a crash are logged on the
// next start).
func NewEngine(dir string, timeout time.Duration, maxSamples, maxConcurrent int, lookback time.Duration, logger *slog.Logger, reg prometheus.Registerer) (*promql.Engine, parser.Parser, error) {
	tracker, err := promql.NewActiveQueryTracker(dir, maxConcurrent, logger.With("component", "active queries"))
	if err != nil {
		return nil, nil, fmt.Errorf("create query tracker: %w", err)
	}
	p := parser.NewParser(parser.Options{})
	e := promql.NewEngine(promql.EngineOpts{
		Logger:                   logger.With("component", "query engine"),
		Reg:                      reg,
		MaxSamples:               maxSamples,
		Timeout:                  timeout,
		ActiveQueryTracker:       tracker,
		LookbackDelta:            lookback,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		Parser:                   p,
	})
	return e, p, nil
}

// sameOriginOnly matches no Origin, so the API sends no CORS headers:
// browsers may use it from sightline's own UI only. (Prometheus' API
// dereferences this regexp whenever a request has an Origin header, which
// every browser POST has, so it must not be nil.)
var sameOriginOnly = regexp.MustCompile(`^$`)

// New returns the handler for everything under /api/v1/.
func New(o Options) http.Handler {
	cfgFn := o.Config
	ready := func(f http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if o.Ready != nil && !o.Ready() {
				http.Error(w, "sightline is starting or stopping", http.StatusServiceUnavailable)
				return
			}
			f(w, r)
		}
	}
	rulesFn := o.Rules
	if rulesFn == nil {
		rulesFn = func(context.Context) RulesRetriever { return noRules{} }
	}
	host, scheme := "", "http"
	if o.ExternalURL != nil {
		host, scheme = o.ExternalURL.Host, o.ExternalURL.Scheme
	}
	api := apiv1.NewAPI(
		o.Engine,
		o.Storage,
		o.Storage,
		o.Storage,
		func(context.Context) apiv1.ScrapePoolsRetriever { return o.Targets },
		func(context.Context) apiv1.TargetRetriever { return o.Targets },
		func(context.Context) apiv1.AlertmanagerRetriever { return noAlertmanagers{} },
		cfgFn,
		o.Flags,
		apiv1.GlobalURLOptions{ListenAddress: o.ListenAddr, Host: host, Scheme: scheme},
		ready,
		o.Storage,
		o.Dir,
		false, // admin API (delete series, snapshots) stays off
		true,  // search endpoints
		10000,
		o.Logger.With("component", "api"),
		rulesFn,
		50_000_000,     // remote read sample limit
		10,             // remote read concurrency
		1<<20,          // remote read frame bytes
		false,          // not agent mode
		sameOriginOnly, // CORS: no cross-origin reads
		func() (apiv1.RuntimeInfo, error) { return runtimeInfo(o) },
		&o.Version,
		func() []notifications.Notification { return nil },
		func() (<-chan notifications.Notification, func(), bool) { return nil, func() {}, false },
		o.Gatherer,
		o.Registerer,
		nil,
		true, // remote write receiver
		remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType},
		false, false, false, // OTLP is served by sightline's own receiver
		o.Lookback,
		false, // type and unit labels
		true,  // append metadata
		nil,
		nil,
		apiv1.OpenAPIOptions{Version: o.Version.Version},
		o.Parser,
		false,
		o.Timeout,
	)
	r := route.New()
	api.Register(r.WithPrefix("/api/v1"))
	return r
}

func runtimeInfo(o Options) (apiv1.RuntimeInfo, error) {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	return apiv1.RuntimeInfo{
		StartTime:           o.StartTime,
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          time.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      o.StartTime,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
		StorageRetention:    o.Retention,
	}, nil
}

// noRules answers /api/v1/rules and /api/v1/alerts while no rule manager
// is wired: there are no rules, so the lists are empty.
type noRules struct{}

func (noRules) RuleGroups() []*rules.Group           { return nil }
func (noRules) AlertingRules() []*rules.AlertingRule { return nil }

// noAlertmanagers answers /api/v1/alertmanagers: sightline sends its own
// notifications, so no external Alertmanager is discovered.
type noAlertmanagers struct{}

func (noAlertmanagers) Alertmanagers() []*url.URL        { return nil }
func (noAlertmanagers) DroppedAlertmanagers() []*url.URL { return nil }
