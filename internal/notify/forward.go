package notify

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/notifier"
)

// ExternalConfig is Prometheus' configuration whose `alerting:` section
// (alertmanagers, alert_relabel_configs) and external labels are used to
// forward alerts to external Alertmanagers.
type ExternalConfig = promconfig.Config

// forwarder sends alerts to external Alertmanagers with Prometheus' own
// notifier (queueing, batching, retries, its prometheus_notifications_*
// metrics). Only static_configs are resolved.
type forwarder struct {
	logger *slog.Logger
	reg    prometheus.Registerer

	mu      sync.Mutex // guards m, tsets
	m       *notifier.Manager
	tsets   chan map[string][]*targetgroup.Group
	running bool
}

func newForwarder(logger *slog.Logger, reg prometheus.Registerer) *forwarder {
	return &forwarder{logger: logger, reg: reg}
}

func (f *forwarder) apply(cfg *ExternalConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cfg == nil || len(cfg.AlertingConfig.AlertmanagerConfigs) == 0 {
		if f.m != nil {
			// Keep the manager (its metrics are registered) but send nowhere.
			var empty promconfig.Config
			if cfg != nil {
				empty = *cfg
			}
			empty.AlertingConfig.AlertmanagerConfigs = nil
			if err := f.m.ApplyConfig(&empty); err != nil {
				return fmt.Errorf("apply alerting config: %w", err)
			}
		}
		return nil
	}
	if f.m == nil {
		f.m = notifier.NewManager(&notifier.Options{QueueCapacity: 10000, Registerer: f.reg}, model.UTF8Validation, f.logger)
		f.tsets = make(chan map[string][]*targetgroup.Group, 1)
	}
	if err := f.m.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("apply alerting config: %w", err)
	}
	groups := map[string][]*targetgroup.Group{}
	for key, amc := range cfg.AlertingConfig.AlertmanagerConfigs.ToMap() {
		for _, sd := range amc.ServiceDiscoveryConfigs {
			st, ok := sd.(discovery.StaticConfig)
			if !ok {
				f.logger.Warn("alerting.alertmanagers: only static_configs are supported; ignoring a service discovery config", "type", sd.Name())
				continue
			}
			for i, g := range st {
				c := *g
				c.Source = fmt.Sprintf("%s/%d", key, i)
				groups[key] = append(groups[key], &c)
			}
		}
	}
	select {
	case <-f.tsets:
	default:
	}
	f.tsets <- groups
	if !f.running {
		f.running = true
		go f.m.Run(f.tsets)
	}
	return nil
}

func (f *forwarder) send(alerts ...*notifier.Alert) {
	f.mu.Lock()
	m := f.m
	f.mu.Unlock()
	if m != nil {
		m.Send(alerts...)
	}
}

func (f *forwarder) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m != nil {
		f.m.Stop()
	}
}
