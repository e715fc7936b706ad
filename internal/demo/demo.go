// Package demo runs `sightline demo`: a sightline server, log agents and a
// small microservice shop in one process. The shop — gateway (HTTP) in
// front of catalog, cart and checkout (gRPC), which call payment and
// inventory, plus a simulated PostgreSQL database and Kafka broker that
// appear as uninstrumented nodes — sends traces and metrics to the server
// over OTLP with the OpenTelemetry SDK, exposes Prometheus /metrics that
// the server scrapes, and writes log files in JSON, logfmt and
// Logback-style text that the agents tail. A load generator drives it, and
// faults (latency, an error burst, connection-pool exhaustion, a forbidden
// call) switch on a timer or by command; the shipped rules alert on them.
//
// Run blocks until its context ends; Faults and SetRemote are safe for
// concurrent use.
package demo

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/agent"
	"github.com/sightline/sightline/internal/app"
	"github.com/sightline/sightline/internal/config"
)

//go:embed rules/*.yml
var rulesFS embed.FS

// Options configures a demo run.
type Options struct {
	// DataDir keeps the server's data, the agents' state, the shop's log
	// files and the demo's config; empty uses a temporary directory that
	// is removed at the end.
	DataDir string
	// HTTPAddr, OTLPGRPCAddr and OTLPHTTPAddr are the server's listeners
	// (as for `sightline server`). The shop needs OTLPGRPCAddr.
	HTTPAddr, OTLPGRPCAddr, OTLPHTTPAddr string
	// Duration stops the demo by itself when positive.
	Duration time.Duration
	// RPS is the load generator's request rate.
	RPS float64
	// FaultEvery switches the next fault on at this interval, for
	// FaultFor; 0 switches faults only by command.
	FaultEvery, FaultFor time.Duration
	// ScrapeInterval is how often the server scrapes the shop and
	// evaluates rules; MetricInterval how often the SDK pushes metrics.
	ScrapeInterval, MetricInterval time.Duration
	// Flags and Build are shown by the server's status API.
	Flags map[string]string
	Build app.BuildInfo
	// Logger receives the server's, agents' and demo's logs; Out the
	// welcome text with the URL to open.
	Logger *slog.Logger
	Out    io.Writer
}

// DefaultOptions returns options for an interactive demo.
func DefaultOptions() Options {
	d := config.Default()
	return Options{
		HTTPAddr: d.Server.HTTPAddr, OTLPGRPCAddr: d.Server.OTLPGRPCAddr, OTLPHTTPAddr: d.Server.OTLPHTTPAddr,
		RPS: 4, FaultEvery: 3 * time.Minute, FaultFor: 90 * time.Second,
		ScrapeInterval: 5 * time.Second, MetricInterval: 10 * time.Second,
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch {
	case o.OTLPGRPCAddr == "":
		return errors.New("validate demo options: the shop sends OTLP over gRPC; set --otlp-grpc-addr")
	case o.HTTPAddr == "":
		return errors.New("validate demo options: --http-addr is empty")
	case o.RPS <= 0 || o.RPS > 1000:
		return fmt.Errorf("validate demo options: rps %g is not in (0, 1000]", o.RPS)
	case o.FaultEvery < 0 || (o.FaultEvery > 0 && (o.FaultFor <= 0 || o.FaultFor >= o.FaultEvery)):
		return errors.New("validate demo options: fault timer needs 0 < fault-for < fault-every (or fault-every 0)")
	case o.ScrapeInterval < time.Second || o.MetricInterval < time.Second:
		return errors.New("validate demo options: scrape and metric intervals must be at least 1s")
	case o.Duration < 0:
		return errors.New("validate demo options: --duration is negative")
	}
	return nil
}

// Run starts the server, the shop, the agents and the load, and stops them
// all, in reverse order, when ctx ends or Duration passes.
func Run(ctx context.Context, o Options) (err error) {
	if err := o.Validate(); err != nil {
		return err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sightline-demo-"); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	}
	logDir, ruleDir := filepath.Join(dir, "shop-logs"), filepath.Join(dir, "demo-rules")
	for _, d := range []string{logDir, ruleDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create demo dir: %w", err)
		}
	}
	if err := writeRules(ruleDir); err != nil {
		return err
	}

	lns, err := listenShop()
	if err != nil {
		return err
	}
	// Bound already; logged before the server's listeners so that whoever
	// waits for those has seen the gateway too.
	logger.Info("listening", "listener", "shop-gateway", "addr", lns.http["gateway"].Addr().String())
	cfgText, err := ConfigYAML(ConfigParams{RuleDir: ruleDir, ScrapeInterval: o.ScrapeInterval, Targets: targetsOf(lns)})
	if err != nil {
		lns.close()
		return err
	}
	cfg, err := config.Load(cfgText, logger)
	if err != nil {
		lns.close()
		return fmt.Errorf("load demo config: %w", err)
	}
	cfg.Server.DataDir = filepath.Join(dir, "server")
	cfg.Server.HTTPAddr, cfg.Server.OTLPGRPCAddr, cfg.Server.OTLPHTTPAddr = o.HTTPAddr, o.OTLPGRPCAddr, o.OTLPHTTPAddr
	if err := os.WriteFile(filepath.Join(dir, "sightline-demo.yml"), cfgText, 0o644); err != nil {
		lns.close()
		return fmt.Errorf("write demo config: %w", err)
	}

	srv, err := app.New(cfg, o.Flags, o.Build, logger)
	if err != nil {
		lns.close()
		return fmt.Errorf("start server: %w", err)
	}
	if err := srv.Start(); err != nil {
		lns.close()
		return errors.Join(fmt.Errorf("start server: %w", err), srv.Stop(context.Background()))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, srv.Stop(sctx))
	}()

	faults := NewFaults()
	sh, err := startShop(ctx, lns, srv.OTLPGRPCAddr(), logDir, faults, o.MetricInterval)
	if err != nil {
		return err
	}
	gatewayURL := "http://" + lns.http["gateway"].Addr().String()

	var wg sync.WaitGroup
	runCtx, stopRun := context.WithCancel(ctx)
	var agentErrs []error
	var agentMu sync.Mutex
	for _, s := range Services {
		acfg := agentConfig("http://"+srv.HTTPAddr(), s.Name, s.Style, logDir, filepath.Join(dir, "agent", s.Name))
		ag, err := agent.New(acfg, logger.With("component", "agent", "service", s.Name), prometheus.NewRegistry())
		if err != nil {
			stopRun()
			wg.Wait()
			return errors.Join(fmt.Errorf("start agent: %w", err), sh.stop(context.Background()))
		}
		wg.Go(func() {
			if err := ag.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				agentMu.Lock()
				agentErrs = append(agentErrs, fmt.Errorf("agent for %s: %w", s.Name, err))
				agentMu.Unlock()
			}
		})
	}
	lg := &loadGen{base: gatewayURL, rps: o.RPS, client: &http.Client{Timeout: 10 * time.Second}}
	wg.Go(func() { lg.run(runCtx) })
	if o.FaultEvery > 0 {
		wg.Go(func() {
			faults.Cycle(runCtx, o.FaultEvery, o.FaultFor, func(name string, on bool) {
				logger.Info("demo fault switched", "fault", name, "on", on)
			})
		})
	}

	timer := "only by command"
	if o.FaultEvery > 0 {
		timer = fmt.Sprintf("one every %v for %v", o.FaultEvery, o.FaultFor)
	}
	fmt.Fprintf(out, `
sightline demo is running.

  Open  http://%s/  (the UI; the shop's traces, logs, metrics and alerts arrive within a minute)
  Shop  %s  (gateway; GET /api/products, POST /api/cart, POST /api/checkout)

  Faults (%s) switch on %s; switch one yourself with
    sightline demo fault latency --on --addr %s

Press Ctrl-C to stop.
`, browsable(srv.HTTPAddr()), gatewayURL, joinNames(), timer, gatewayURL)

	<-ctx.Done()
	logger.Info("stopping demo")
	stopRun()
	wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return errors.Join(errors.Join(agentErrs...), sh.stop(sctx))
}

// logbackStart matches the first line of a Logback record
// ("2026-11-24 16:43:26.123 [thread] LEVEL logger - message").
const logbackStart = `^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \[`

// agentConfig is the config of the agent tailing one service's log file. A
// Logback file gets an explicit record start, so that an exception line
// ("java.sql.SQLTransientConnectionException: …", which the agent's
// built-in rule takes for a new record) stays with the header line that
// carries the trace id.
func agentConfig(server, service string, style LogStyle, logDir, dataDir string) agent.Config {
	c := agent.DefaultConfig()
	c.Server = server
	c.Paths = []string{filepath.Join(logDir, service+".log")}
	c.Labels = map[string]string{"service.name": service, "service.namespace": "shop"}
	c.DataDir = dataDir
	if style == StyleLogback {
		c.Parse.Multiline.StartPattern = logbackStart
	}
	return c
}

func joinNames() string {
	var b bytes.Buffer
	for i, n := range FaultNames {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

func writeRules(dir string) error {
	for _, n := range []string{"rules.yml", "log-rules.yml"} {
		b, err := rulesFS.ReadFile("rules/" + n)
		if err != nil {
			return fmt.Errorf("read embedded rules: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return fmt.Errorf("write demo rules: %w", err)
		}
	}
	return nil
}

// Target is one scrape target of the demo config.
type Target struct {
	Service, Addr string
}

func targetsOf(l *shopListeners) []Target {
	var ts []Target
	for _, s := range Services {
		ts = append(ts, Target{Service: s.Name, Addr: l.http[s.Name].Addr().String()})
	}
	return ts
}

// ConfigParams fill the demo's server config.
type ConfigParams struct {
	RuleDir        string
	ScrapeInterval time.Duration
	Targets        []Target
}

var configTmpl = template.Must(template.New("cfg").Parse(`# Written by sightline demo.
global:
  scrape_interval: {{.ScrapeInterval}}
  evaluation_interval: {{.ScrapeInterval}}
rule_files:
  - {{.RuleDir}}/rules.yml
rules:
  log_rule_files:
    - {{.RuleDir}}/log-rules.yml
scrape_configs:
  - job_name: shop
    static_configs:
{{- range .Targets}}
      - targets: ["{{.Addr}}"]
        labels: {service: {{.Service}}, namespace: shop}
{{- end}}
`))

// ConfigYAML renders the server config the demo runs with: the shop's
// scrape jobs and the demo rule files.
func ConfigYAML(p ConfigParams) ([]byte, error) {
	var b bytes.Buffer
	if err := configTmpl.Execute(&b, struct {
		ConfigParams
		ScrapeInterval string
	}{p, fmt.Sprintf("%ds", int(p.ScrapeInterval.Seconds()))}); err != nil {
		return nil, fmt.Errorf("render demo config: %w", err)
	}
	return b.Bytes(), nil
}

// browsable turns a listen address into one a browser can open: a wildcard
// host ("[::]:9800", "0.0.0.0:9800") becomes localhost.
func browsable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
