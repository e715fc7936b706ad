// Package scrape pulls metrics from targets the way Prometheus does: it runs
// Prometheus' own service discovery (static, file, Kubernetes, DNS, HTTP)
// and scrape manager, driven by standard scrape_configs, and appends the
// samples (with up, scrape_duration_seconds and friends) to a store.
//
// A *Manager is safe for concurrent use; ApplyConfig may be called while it
// runs (on reload).
package scrape

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// Manager runs discovery and scraping.
type Manager struct {
	logger *slog.Logger
	disc   *discovery.Manager
	scrape *promscrape.Manager
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a manager that appends to app. reg receives discovery and
// scrape metrics (prometheus_sd_*, prometheus_target_*), the names
// Prometheus users already have dashboards for.
func New(app storage.AppendableV2, logger *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register discovery metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	disc := discovery.NewManager(ctx, logger.With("component", "discovery"), reg, sdMetrics, discovery.Name("scrape"))
	if disc == nil {
		cancel()
		return nil, errors.New("create discovery manager: see the log for the reason")
	}
	sm, err := promscrape.NewManager(&promscrape.Options{}, logger.With("component", "scrape"), nil, nil, app, reg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("create scrape manager: %w", err)
	}
	return &Manager{logger: logger, disc: disc, scrape: sm, cancel: cancel}, nil
}

// ApplyConfig (re)loads scrape_configs: discovery restarts for changed jobs
// and scrape pools are created, updated or stopped to match.
func (m *Manager) ApplyConfig(cfg *promconfig.Config) error {
	if err := m.scrape.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("apply scrape config: %w", err)
	}
	scfgs, err := cfg.GetScrapeConfigs()
	if err != nil {
		return fmt.Errorf("load scrape configs: %w", err)
	}
	c := make(map[string]discovery.Configs, len(scfgs))
	for _, s := range scfgs {
		c[s.JobName] = s.ServiceDiscoveryConfigs
	}
	if err := m.disc.ApplyConfig(c); err != nil {
		return fmt.Errorf("apply discovery config: %w", err)
	}
	return nil
}

// Start runs discovery and scraping in the background until Stop.
func (m *Manager) Start() {
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.disc.Run(); err != nil && !errors.Is(err, context.Canceled) {
			m.logger.Error("discovery stopped", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		if err := m.scrape.Run(m.disc.SyncCh()); err != nil {
			m.logger.Error("scraping stopped", "err", err)
		}
	}()
}

// Stop ends scraping and discovery and waits for them.
func (m *Manager) Stop() {
	m.scrape.Stop()
	m.cancel()
	m.wg.Wait()
}

// Targets gives the Prometheus API its view of targets and pools.
func (m *Manager) Targets() *promscrape.Manager { return m.scrape }
