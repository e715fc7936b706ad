// Package notify is sightline's Alertmanager: alerts from the rules engine
// (and from clients posting to /api/v2/alerts) go through Alertmanager's own
// routing tree, grouping, inhibition, silences, time intervals and
// notification log into webhook, Slack and e-mail receivers, and are also
// forwarded to external Alertmanagers configured in Prometheus' `alerting:`
// section. Silences and the notification log are snapshotted under the data
// directory so they survive restarts; every firing/resolved transition is
// kept in a bounded, persisted history.
//
// A *Notifier is safe for concurrent use.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	amapi "github.com/prometheus/alertmanager/api"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/marker"
	"github.com/prometheus/alertmanager/nflog"
	amnotify "github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/notifier"
)

// Options configure a Notifier.
type Options struct {
	// Dir holds the silences and nflog snapshots and the alert history.
	Dir string
	// ExternalURL is this server's URL (templates' .ExternalURL).
	ExternalURL *url.URL
	// Retention of expired silences and notification log entries
	// (default 120h, as Alertmanager).
	Retention time.Duration
	// MaintenanceInterval is how often snapshots are written (default 15m;
	// also written on Stop).
	MaintenanceInterval time.Duration
	// HistoryLimit bounds the kept state changes (default 10000).
	HistoryLimit int
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

func (o *Options) defaults() {
	if o.Retention == 0 {
		o.Retention = 120 * time.Hour
	}
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = 15 * time.Minute
	}
	if o.HistoryLimit == 0 {
		o.HistoryLimit = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.ExternalURL == nil {
		o.ExternalURL = &url.URL{Scheme: "http", Host: "localhost"}
	}
}

// Validate reports impossible settings.
func (o Options) Validate() error {
	if o.Dir == "" {
		return errors.New("validate notify options: Dir is required")
	}
	if o.Retention < 0 || o.MaintenanceInterval < 0 || o.HistoryLimit < 0 {
		return errors.New("validate notify options: values must not be negative")
	}
	return nil
}

// defaultConfig routes everything to a receiver with no integrations:
// alerts are listed and can be silenced, nobody is notified.
const defaultConfig = "route:\n  receiver: sightline\nreceivers:\n- name: sightline\n"

// Notifier is the running notification pipeline.
type Notifier struct {
	opts     Options
	logger   *slog.Logger
	alerts   *mem.Alerts
	silences *silence.Silences
	silencer *silence.Silencer
	nflog    *nflog.Log
	marker   marker.GroupMarker
	builder  *amnotify.PipelineBuilder
	dmetrics *dispatch.DispatcherMetrics
	api      *amapi.API
	handler  http.Handler
	history  *History
	forward  *forwarder

	mu         sync.Mutex // guards dispatcher, inhibitor and stopped
	dispatcher *dispatch.Dispatcher
	inhibitor  *inhibit.Inhibitor
	stopped    bool
	current    atomic.Pointer[dispatch.Dispatcher]

	stopc chan struct{}
	wg    sync.WaitGroup
}

// New opens the silences, notification log and history under opts.Dir.
// ApplyConfig must be called before alerts are routed.
func New(opts Options) (n *Notifier, err error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create alerts dir: %w", err)
	}
	n = &Notifier{opts: opts, logger: opts.Logger, stopc: make(chan struct{}), marker: marker.NewGroupMarker()}
	rec := eventrecorder.NopRecorder()
	ff := featurecontrol.NoopFlags{}
	reg := opts.Registerer

	n.nflog, err = nflog.New(nflog.Options{
		SnapshotFile: filepath.Join(opts.Dir, "nflog"),
		Retention:    opts.Retention,
		Logger:       opts.Logger.With("component", "nflog"),
		Metrics:      reg,
	})
	if err != nil {
		return nil, fmt.Errorf("open notification log: %w", err)
	}
	n.silences, err = silence.New(silence.Options{
		SnapshotFile:  filepath.Join(opts.Dir, "silences"),
		Retention:     opts.Retention,
		Logger:        opts.Logger.With("component", "silences"),
		Metrics:       reg,
		EventRecorder: rec,
	})
	if err != nil {
		return nil, fmt.Errorf("open silences: %w", err)
	}
	n.history, err = OpenHistory(filepath.Join(opts.Dir, "history.jsonl"), opts.HistoryLimit)
	if err != nil {
		return nil, err
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.nflog.Maintenance(opts.MaintenanceInterval, filepath.Join(opts.Dir, "nflog"), n.stopc, nil)
	}()
	go func() {
		defer n.wg.Done()
		n.silences.Maintenance(opts.MaintenanceInterval, filepath.Join(opts.Dir, "silences"), n.stopc, nil)
	}()
	defer func() {
		if err != nil {
			close(n.stopc)
			n.wg.Wait()
		}
	}()
	n.silencer = silence.NewSilencer(n.silences, opts.Logger, rec)
	n.alerts, err = mem.NewAlerts(context.Background(), 30*time.Minute, 0, nil, opts.Logger.With("component", "alerts"), rec, reg, ff)
	if err != nil {
		return nil, fmt.Errorf("create alert store: %w", err)
	}
	n.builder = amnotify.NewPipelineBuilder(reg, ff, rec)
	n.dmetrics = dispatch.NewDispatcherMetrics(false, reg, ff)
	n.api, err = amapi.New(amapi.Options{
		Alerts:         n.alerts,
		Silences:       n.silences,
		GroupMutedFunc: n.marker.Muted,
		Logger:         opts.Logger.With("component", "api"),
		Registry:       reg,
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sightline_alertmanager_api_request_duration_seconds",
			Help: "Duration of Alertmanager API v2 requests.",
		}, []string{"handler", "method", "code"}),
		GroupFunc: func(ctx context.Context, rf func(*dispatch.Route) bool, af func(*types.Alert, time.Time) bool) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
			d := n.current.Load()
			if d == nil {
				return nil, nil, errors.New("no alertmanager configuration applied yet")
			}
			return d.Groups(ctx, rf, af)
		},
	})
	if err != nil {
		n.alerts.Close()
		return nil, fmt.Errorf("create alertmanager API: %w", err)
	}
	n.handler = n.api.Register(route.New(), "/")
	n.forward = newForwarder(opts.Logger.With("component", "forwarder"), reg)
	return n, nil
}

// Handler serves Alertmanager's API v2 under /api/v2/.
func (n *Notifier) Handler() http.Handler { return n.handler }

// History is the record of firing/resolved transitions.
func (n *Notifier) History() *History { return n.history }

// Config is what ApplyConfig takes.
type Config struct {
	// Alertmanager is the `alertmanager:` section; nil means: keep alerts,
	// notify nobody.
	Alertmanager *amconfig.Config
	// External Alertmanagers to forward to (Prometheus' `alerting:`
	// section, may be nil).
	External *ExternalConfig
}

// ApplyConfig (re)builds routes, receivers, inhibitions and the dispatcher.
// Alerts, silences and the notification log are kept, so a reload neither
// loses state nor re-sends notifications early. On error the running
// configuration stays in force.
func (n *Notifier) ApplyConfig(cfg Config) error {
	conf := cfg.Alertmanager
	if conf == nil {
		var err error
		if conf, err = amconfig.Load(defaultConfig); err != nil {
			return fmt.Errorf("load default alertmanager config: %w", err)
		}
	}
	tmpl, err := template.FromGlobs(conf.Templates)
	if err != nil {
		return fmt.Errorf("parse alertmanager templates: %w", err)
	}
	tmpl.ExternalURL = n.opts.ExternalURL
	routes := dispatch.NewRoute(conf.Route, nil)
	used := map[string]bool{}
	routes.Walk(func(r *dispatch.Route) { used[r.RouteOpts.Receiver] = true })
	receivers := map[string][]amnotify.Integration{}
	for _, rcv := range conf.Receivers {
		if !used[rcv.Name] {
			continue
		}
		ints, err := buildIntegrations(rcv, tmpl, n.logger)
		if err != nil {
			return err
		}
		receivers[rcv.Name] = ints
	}
	intervals := map[string][]timeinterval.TimeInterval{}
	for _, ti := range conf.MuteTimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range conf.TimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	if err := n.forward.apply(cfg.External); err != nil {
		return err
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return errors.New("apply alertmanager config: notifier is stopped")
	}
	if n.inhibitor != nil {
		n.inhibitor.Stop()
	}
	if n.dispatcher != nil {
		n.dispatcher.Stop()
	}
	inh := inhibit.NewInhibitor(settledAlerts{n.alerts, inhibitSettle}, conf.InhibitRules, n.logger, eventrecorder.NopRecorder())
	pipeline := n.builder.New(receivers, func() time.Duration { return 0 }, inh, n.silencer,
		timeinterval.NewIntervener(intervals), n.marker, n.nflog, nil)
	n.api.Update(conf, func(ctx context.Context, ls model.LabelSet) {
		inh.Mutes(ctx, ls)
		n.silencer.Mutes(ctx, ls)
	})
	d := dispatch.NewDispatcher(n.alerts, routes, pipeline, n.marker, timeout, 30*time.Second, nil,
		n.logger, eventrecorder.NopRecorder(), n.dmetrics, tmpl)
	go inh.Run()
	inh.WaitForLoading()
	go d.Run(time.Now())
	d.WaitForLoading()
	n.inhibitor, n.dispatcher = inh, d
	n.current.Store(d)
	n.logger.Info("alertmanager configuration applied", "receivers", len(receivers), "inhibit_rules", len(conf.InhibitRules))
	return nil
}

func timeout(d time.Duration) time.Duration { return max(d, amnotify.MinTimeout) }

// Send accepts alerts from the rules engine.
func (n *Notifier) Send(alerts ...*notifier.Alert) {
	if len(alerts) == 0 {
		return
	}
	now := time.Now()
	out := make([]*types.Alert, 0, len(alerts))
	for _, a := range alerts {
		ta := &types.Alert{
			Alert: model.Alert{
				Labels:       labelSet(a.Labels),
				Annotations:  labelSet(a.Annotations),
				StartsAt:     a.StartsAt,
				EndsAt:       a.EndsAt,
				GeneratorURL: a.GeneratorURL,
			},
			UpdatedAt: now,
		}
		out = append(out, ta)
		n.history.Observe(ta.Labels, ta.Annotations, a.GeneratorURL, a.StartsAt, a.EndsAt, now)
	}
	if err := n.alerts.Put(context.Background(), out...); err != nil {
		n.logger.Error("store alerts", "err", err)
	}
	n.forward.send(alerts...)
}

// Stop ends dispatching and forwarding and writes final snapshots.
func (n *Notifier) Stop() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	if n.inhibitor != nil {
		n.inhibitor.Stop()
	}
	if n.dispatcher != nil {
		n.dispatcher.Stop()
	}
	n.mu.Unlock()
	n.forward.stop()
	close(n.stopc) // Maintenance writes a last snapshot on stop.
	n.wg.Wait()
	n.alerts.Close()
	return n.history.Close()
}
