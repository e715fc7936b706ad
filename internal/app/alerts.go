package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/api/prom"
	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/notify"
	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/rules"
)

// alerting is the alerts pillar's running state.
type alerting struct {
	rules    *rules.Manager
	notifier *notify.Notifier
}

// alertsByApp holds each App's alerting state until App gets a field for
// it (lead: replace with `alerts *alerting` on App).
var alertsByApp sync.Map // *App → *alerting

func (a *App) alerting() *alerting {
	v, ok := alertsByApp.Load(a)
	if !ok {
		return nil
	}
	return v.(*alerting)
}

// setupAlerts wires the alerts pillar: PromQL and LogQL rule managers
// (results and ALERTS series into the metric store) and the notifier
// (routing, grouping, inhibition, silences, receivers), plus their APIs on
// mux. It sets a.rules for /api/v1/rules and /api/v1/alerts.
func (a *App) setupAlerts(mux *http.ServeMux) (err error) {
	n, err := notify.New(notify.Options{
		Dir:         filepath.Join(a.cfg.Server.DataDir, "alerts"),
		ExternalURL: a.extURL,
		Logger:      a.logger.With("component", "notify"),
		Registerer:  a.reg,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Stop())
		}
	}()
	if err := n.ApplyConfig(notifyConfig(a.cfg)); err != nil {
		return err
	}
	lq, err := a.logQuerier()
	if err != nil {
		return err
	}
	rm, err := rules.New(rules.Options{
		Store:       a.metrics,
		Engine:      a.engine,
		Logs:        lq,
		Sender:      n,
		ExternalURL: a.extURL,
		Logger:      a.logger,
		Registerer:  a.reg,
	})
	if err != nil {
		return err
	}
	if err := rm.Update(ruleFiles(a.cfg)); err != nil {
		rm.Stop()
		return err
	}
	rm.Run()
	alertsByApp.Store(a, &alerting{rules: rm, notifier: n})
	a.rules = func(context.Context) prom.RulesRetriever { return rm }

	am := n.Handler()
	for _, p := range []string{"/api/v2/alerts", "/api/v2/alerts/", "/api/v2/silences", "/api/v2/silence/",
		"/api/v2/status", "/api/v2/receivers"} {
		mux.Handle(p, am)
	}
	mux.Handle("GET /api/v1/alerts/history", n.History())
	mux.HandleFunc("POST /-/reload", a.serveReload)
	return nil
}

// logQuerier is the LogQL engine log rules run on: the log store as the
// Loki API sees it, default tenant. (Lead: share the logs pillar's engine
// once App holds it.)
func (a *App) logQuerier() (rules.LogQuerier, error) {
	lc := a.logsConfig()
	so, err := logSchemaOptions(lc, lc.StreamFields)
	if err != nil {
		return nil, err
	}
	schema, err := logstore.NewSchema(so)
	if err != nil {
		return nil, err
	}
	eo := logql.DefaultOptions()
	eo.MaxEntries, eo.MaxSeries = lc.MaxQueryEntries, lc.MaxQuerySeries
	engine, err := logql.NewEngine(&logstore.Source{R: a.events, Schema: schema}, eo)
	if err != nil {
		return nil, fmt.Errorf("create log rules engine: %w", err)
	}
	return rules.LogQLEngine{Engine: engine}, nil
}

// serveReload reloads the configuration file, like SIGHUP.
func (a *App) serveReload(w http.ResponseWriter, _ *http.Request) {
	var err error
	if r, ok := any(a).(interface{ reloadFromFile() error }); ok {
		err = r.reloadFromFile()
	} else {
		err = a.reloadFileFallback()
	}
	if err != nil {
		a.logger.Error("reload failed", "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": err.Error()})
		return
	}
	w.WriteHeader(http.StatusOK)
}

// reloadFileFallback re-reads the configuration file, keeping the server
// section in force (flags override it), and applies it.
func (a *App) reloadFileFallback() error {
	a.mu.RLock()
	cur := a.cfg
	a.mu.RUnlock()
	if cur.File == "" {
		return errors.New("reload: the server was started without --config")
	}
	cfg, err := config.LoadFile(cur.File, a.logger)
	if err != nil {
		return fmt.Errorf("reload %s: %w", cur.File, err)
	}
	cfg.Server = cur.Server
	if err := a.Reload(cfg); err != nil {
		return err
	}
	return a.reloadAlerts(cfg)
}

// reloadAlerts applies new rule files and notification settings; alert
// state of unchanged rules, silences and the notification log are kept. On
// error the previous rules/routes stay in force.
func (a *App) reloadAlerts(cfg *config.Config) error {
	al := a.alerting()
	if al == nil {
		return nil
	}
	return errors.Join(al.notifier.ApplyConfig(notifyConfig(cfg)), al.rules.Update(ruleFiles(cfg)))
}

// stopAlerts stops rule evaluation, then notifications (writing the
// silence and notification-log snapshots). Call it before the metric
// store closes.
func (a *App) stopAlerts(context.Context) error {
	al := a.alerting()
	if al == nil {
		return nil
	}
	al.rules.Stop()
	err := al.notifier.Stop()
	alertsByApp.Delete(a)
	return err
}

func notifyConfig(cfg *config.Config) notify.Config {
	return notify.Config{Alertmanager: cfg.Alertmanager.Config, External: cfg.Prometheus}
}

func ruleFiles(cfg *config.Config) rules.Files {
	f := rules.Files{LogQL: cfg.Rules.LogRuleFiles}
	if p := cfg.Prometheus; p != nil {
		f.PromQL = p.RuleFiles
		f.Interval = time.Duration(p.GlobalConfig.EvaluationInterval)
		f.ExternalLabels = p.GlobalConfig.ExternalLabels
	}
	return f
}
