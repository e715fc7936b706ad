package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sightline/sightline/internal/api/prom"
	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/notify"
	"github.com/sightline/sightline/internal/rules"
)

// alerting is the alerts pillar's running state.
type alerting struct {
	rules    *rules.Manager
	notifier *notify.Notifier
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
	a.alerts = &alerting{rules: rm, notifier: n}
	a.onStop(a.stopAlerts)
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

// logQuerier is the LogQL engine log rules run on: the logs pillar's,
// over the log store as the Loki API sees it (default tenant).
func (a *App) logQuerier() (rules.LogQuerier, error) {
	if a.logEngine == nil {
		return nil, errors.New("log rules need the logs pillar, which is not set up")
	}
	return rules.LogQLEngine{Engine: a.logEngine}, nil
}

// serveReload reloads the configuration file, like SIGHUP.
func (a *App) serveReload(w http.ResponseWriter, _ *http.Request) {
	if err := a.reloadFromFile(); err != nil {
		a.logger.Error("reload failed", "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": err.Error()})
		return
	}
	w.WriteHeader(http.StatusOK)
}

// reloadAlerts applies new rule files and notification settings; alert
// state of unchanged rules, silences and the notification log are kept. On
// error the previous rules/routes stay in force.
func (a *App) reloadAlerts(cfg *config.Config) error {
	al := a.alerts
	if al == nil {
		return nil
	}
	return errors.Join(al.notifier.ApplyConfig(notifyConfig(cfg)), al.rules.Update(ruleFiles(cfg)))
}

// stopAlerts stops rule evaluation, then notifications (writing the
// silence and notification-log snapshots). It runs among the pillar stops,
// before the metric store closes.
func (a *App) stopAlerts(context.Context) error {
	al := a.alerts
	if al == nil {
		return nil
	}
	a.alerts = nil
	al.rules.Stop()
	return al.notifier.Stop()
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
