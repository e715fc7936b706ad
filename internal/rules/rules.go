// Package rules evaluates Prometheus-format rule files: recording and
// alerting rules whose expressions are PromQL (over the metric store) or
// LogQL metric queries (over the log store, Loki ruler style). Both kinds
// run in Prometheus' own rules engine, so `for`, `keep_firing_for`,
// templates, ALERTS / ALERTS_FOR_STATE series and the restore of `for`
// state after a restart behave exactly as in Prometheus. Results are
// written back to the metric store.
//
// A *Manager is safe for concurrent use.
package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promrules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
)

// Store is where rule results go and where `for` state is restored from.
type Store interface {
	storage.Queryable
	storage.AppendableV2
}

// Sender receives alerts as Prometheus' notifier sends them (firing ones
// with EndsAt in the future, resolved ones with EndsAt at resolution).
type Sender interface {
	Send(alerts ...*notifier.Alert)
}

// LogQuerier evaluates a LogQL metric query at one instant.
type LogQuerier interface {
	InstantVector(ctx context.Context, q string, ts time.Time) (promql.Vector, error)
}

// Options configure a Manager. Zero durations take Prometheus' defaults.
type Options struct {
	Store  Store
	Engine promql.QueryEngine
	// Logs evaluates log rules; nil means log rule files are rejected.
	Logs LogQuerier
	// Sender gets the alerts; nil drops them (rules still evaluate).
	Sender Sender
	// ExternalURL is the base of generator links in alerts.
	ExternalURL *url.URL
	// OutageTolerance bounds how long `for` state is restored across a
	// restart (default 1h); ForGracePeriod is the minimum `for` left after
	// a restore (default 10m); ResendDelay is how often firing alerts are
	// re-sent (default 1m).
	OutageTolerance, ForGracePeriod, ResendDelay time.Duration
	Logger                                       *slog.Logger
	Registerer                                   prometheus.Registerer
}

func (o *Options) defaults() {
	if o.OutageTolerance == 0 {
		o.OutageTolerance = time.Hour
	}
	if o.ForGracePeriod == 0 {
		o.ForGracePeriod = 10 * time.Minute
	}
	if o.ResendDelay == 0 {
		o.ResendDelay = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ExternalURL == nil {
		o.ExternalURL = &url.URL{Scheme: "http", Host: "localhost"}
	}
}

// Validate reports missing or impossible settings.
func (o Options) Validate() error {
	if o.Store == nil || o.Engine == nil {
		return errors.New("validate rules options: Store and Engine are required")
	}
	if o.OutageTolerance < 0 || o.ForGracePeriod < 0 || o.ResendDelay < 0 {
		return errors.New("validate rules options: durations must not be negative")
	}
	return nil
}

// Files is what to evaluate: Prometheus' rule_files (PromQL) and
// sightline's log_rule_files (LogQL), as globs, at the given default
// interval.
type Files struct {
	Interval       time.Duration
	PromQL, LogQL  []string
	ExternalLabels labels.Labels
}

// Manager runs a PromQL and a LogQL rules manager side by side.
type Manager struct {
	opts Options
	prom *promrules.Manager
	logs *promrules.Manager

	mu      sync.Mutex // guards running and stopped
	running bool
	stopped bool
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// New builds the managers; Update loads rules and Run starts evaluation.
func New(opts Options) (*Manager, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, cancel: cancel}
	metrics := promrules.NewGroupMetrics(opts.Registerer)
	m.prom = promrules.NewManager(&promrules.ManagerOptions{
		ExternalURL:     opts.ExternalURL,
		QueryFunc:       promrules.EngineQueryFunc(opts.Engine, opts.Store),
		NotifyFunc:      m.notifyFunc(MetricsLink),
		Context:         ctx,
		AppendableV2:    opts.Store,
		Queryable:       opts.Store,
		Logger:          opts.Logger.With("component", "rules", "lang", "promql"),
		OutageTolerance: opts.OutageTolerance,
		ForGracePeriod:  opts.ForGracePeriod,
		ResendDelay:     opts.ResendDelay,
		Metrics:         metrics,
	})
	var lq LogQuerier = noLogs{}
	if opts.Logs != nil {
		lq = opts.Logs
	}
	m.logs = promrules.NewManager(&promrules.ManagerOptions{
		ExternalURL:              opts.ExternalURL,
		QueryFunc:                logQueryFunc(lq),
		NotifyFunc:               m.notifyFunc(LogsLink),
		Context:                  ctx,
		AppendableV2:             opts.Store,
		Queryable:                opts.Store,
		Logger:                   opts.Logger.With("component", "rules", "lang", "logql"),
		OutageTolerance:          opts.OutageTolerance,
		ForGracePeriod:           opts.ForGracePeriod,
		ResendDelay:              opts.ResendDelay,
		Metrics:                  metrics,
		Parser:                   LogQLParser{},
		RuleDependencyController: noDependencies{},
	})
	return m, nil
}

// Update loads the rule files. On error the previous rules stay in force
// and alert state of unchanged rules is kept (Prometheus' semantics).
func (m *Manager) Update(f Files) error {
	if f.Interval <= 0 {
		f.Interval = time.Minute
	}
	promFiles, err := expand(f.PromQL)
	if err != nil {
		return err
	}
	logFiles, err := expand(f.LogQL)
	if err != nil {
		return err
	}
	if len(logFiles) > 0 && m.opts.Logs == nil {
		return errors.New("load log rules: log rule files are configured (rules.log_rule_files) but no log store is available")
	}
	ext := m.opts.ExternalURL.String()
	var errs []error
	if err := m.prom.Update(f.Interval, promFiles, f.ExternalLabels, ext, m.evalIteration); err != nil {
		errs = append(errs, fmt.Errorf("load rule_files: %w", err))
	}
	if err := m.logs.Update(f.Interval, logFiles, f.ExternalLabels, ext, m.evalIteration); err != nil {
		errs = append(errs, fmt.Errorf("load rules.log_rule_files: %w", err))
	}
	return errors.Join(errs...)
}

// Check parses rule files without loading them and returns every error:
// what `promtool check rules` reports, and LogQL parse errors for log rules.
func Check(files Files) []error {
	var errs []error
	for _, set := range []struct {
		globs  []string
		parser parser.Parser
	}{{files.PromQL, nil}, {files.LogQL, LogQLParser{}}} {
		fs, err := expand(set.globs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := promrules.NewManager(&promrules.ManagerOptions{Parser: set.parser, RuleDependencyController: noDependencies{}})
		_, es := m.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, fs...)
		errs = append(errs, es...)
	}
	return errs
}

// Run starts evaluation in the background; it returns at once.
func (m *Manager) Run() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running || m.stopped {
		return
	}
	m.running = true
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.prom.Run() }()
	go func() { defer m.wg.Done(); m.logs.Run() }()
}

// Stop ends evaluation and waits for running groups to finish.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	running := m.running
	m.mu.Unlock()
	m.prom.Stop()
	m.logs.Stop()
	m.cancel()
	if running {
		m.wg.Wait()
	}
}

// RuleGroups lists every group, PromQL first, each sorted by file and name.
func (m *Manager) RuleGroups() []*promrules.Group {
	return append(m.prom.RuleGroups(), m.logs.RuleGroups()...)
}

// AlertingRules lists every alerting rule.
func (m *Manager) AlertingRules() []*promrules.AlertingRule {
	return append(m.prom.AlertingRules(), m.logs.AlertingRules()...)
}

// IsLogGroup reports whether g holds LogQL rules.
func (m *Manager) IsLogGroup(g *promrules.Group) bool {
	return slices.Contains(m.logs.RuleGroups(), g)
}

func expand(globs []string) ([]string, error) {
	var out []string
	for _, pat := range globs {
		fs, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("expand rule file glob %q: %w", pat, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// LinkFunc builds the generator URL of an alert: where in sightline its
// expression is shown over the window [from, to].
type LinkFunc func(base *url.URL, expr string, from, to time.Time) string

// MetricsLink opens the UI's metrics explorer (the page at /graph; /metrics
// is the server's own exposition):
// {base}/graph?q=<expr>&from=<unix ms>&to=<unix ms>.
func MetricsLink(base *url.URL, expr string, from, to time.Time) string {
	return link(base, "/graph", "q", expr, from, to)
}

// LogsLink opens the UI's logs explorer:
// {base}/logs?q=<expr>&from=<unix ms>&to=<unix ms>.
func LogsLink(base *url.URL, expr string, from, to time.Time) string {
	return link(base, "/logs", "q", expr, from, to)
}

func link(base *url.URL, path, key, expr string, from, to time.Time) string {
	u := *base
	u.Path = trimSlash(u.Path) + path
	u.RawQuery = url.Values{
		key:    {expr},
		"from": {strconv.FormatInt(from.UnixMilli(), 10)},
		"to":   {strconv.FormatInt(to.UnixMilli(), 10)},
	}.Encode()
	u.Fragment = ""
	return u.String()
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// LinkContext is how much time before an alert became active (and after
// it resolved) its link shows.
const LinkContext = 15 * time.Minute

// alertBatch collects the alerts of one group evaluation.
type alertBatch struct {
	mu     sync.Mutex // guards alerts (rules may evaluate concurrently)
	alerts []*notifier.Alert
}

type alertBatchKey struct{}

// evalIteration evaluates a rule group as Prometheus does, then hands the
// alerts of all its rules to the Sender at once. Prometheus sends each
// rule's alerts as soon as that rule is evaluated, so a warning inhibited
// by a critical alert of the same group could reach the dispatcher still
// firing just after the critical one resolved, and be notified in that
// gap although both resolved at the same evaluation.
func (m *Manager) evalIteration(ctx context.Context, g *promrules.Group, ts time.Time) {
	b := &alertBatch{}
	promrules.DefaultEvalIterationFunc(context.WithValue(ctx, alertBatchKey{}, b), g, ts)
	if m.opts.Sender != nil && len(b.alerts) > 0 {
		m.opts.Sender.Send(b.alerts...)
	}
}

// notifyFunc turns rule alerts into notifier alerts the way Prometheus
// does, with a generator link into sightline. During a group evaluation
// (evalIteration) they are collected and sent when it ends.
func (m *Manager) notifyFunc(lf LinkFunc) promrules.NotifyFunc {
	return func(ctx context.Context, expr string, alerts ...*promrules.Alert) {
		if m.opts.Sender == nil || len(alerts) == 0 {
			return
		}
		now := time.Now()
		out := make([]*notifier.Alert, 0, len(alerts))
		for _, a := range alerts {
			to := now
			if !a.ResolvedAt.IsZero() {
				to = a.ResolvedAt.Add(LinkContext)
			}
			na := &notifier.Alert{
				StartsAt:     a.FiredAt,
				Labels:       a.Labels,
				Annotations:  a.Annotations,
				GeneratorURL: lf(m.opts.ExternalURL, expr, a.ActiveAt.Add(-LinkContext), to),
			}
			if !a.ResolvedAt.IsZero() {
				na.EndsAt = a.ResolvedAt
			} else {
				na.EndsAt = a.ValidUntil
			}
			out = append(out, na)
		}
		if b, ok := ctx.Value(alertBatchKey{}).(*alertBatch); ok {
			b.mu.Lock()
			b.alerts = append(b.alerts, out...)
			b.mu.Unlock()
			return
		}
		m.opts.Sender.Send(out...)
	}
}

type noDependencies struct{}

func (noDependencies) AnalyseRules([]promrules.Rule) {}

type noLogs struct{}

func (noLogs) InstantVector(context.Context, string, time.Time) (promql.Vector, error) {
	return nil, errors.New("no log store is available for log rules")
}
