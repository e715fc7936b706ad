package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sightline/sightline/internal/agent"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runAgent is `sightline agent`: flags, optionally over a YAML file, build
// an agent.Config; the agent runs until ctx ends (or, with --once, until
// what exists is acknowledged by the server).
func runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline agent", flag.ContinueOnError)
	var (
		server, dataDir, configFile, httpAddr, logLevel, logFormat string
		paths, excludes, labels                                    multiFlag
		otlpAddr, otlpGRPCAddr, kubernetes                         string
		once, journald                                             bool
	)
	fs.StringVar(&server, "server", "", "sightline server base URL, e.g. http://host:9800 (server)")
	fs.Var(&paths, "path", "glob of files to tail; repeatable (paths)")
	fs.Var(&excludes, "exclude", "glob of files not to tail; repeatable (exclude)")
	fs.Var(&labels, "label", "static label k=v added to every record; service=NAME (or service_name, service.name) names the service (the service_name stream label); repeatable (labels)")
	fs.StringVar(&dataDir, "data-dir", "", "directory for positions, agent id and the disk buffer (data_dir)")
	fs.StringVar(&configFile, "config", "", "YAML config file; flags given override it")
	fs.BoolVar(&once, "once", false, "read what exists, ship it, wait for acknowledgement, exit")
	fs.StringVar(&httpAddr, "http-addr", "", "address serving the agent's /metrics, empty to disable (http_addr)")
	fs.BoolVar(&journald, "journald", false, "also read the systemd journal through journalctl (journald.enabled)")
	fs.StringVar(&otlpAddr, "otlp-addr", "", "serve an OTLP/HTTP logs relay for local apps here, e.g. 127.0.0.1:4318 (relay.http_addr)")
	fs.StringVar(&otlpGRPCAddr, "otlp-grpc-addr", "", "serve an OTLP/gRPC logs relay here, e.g. 127.0.0.1:4317 (relay.grpc_addr)")
	fs.StringVar(&kubernetes, "kubernetes", "", "pod metadata from the API server: auto, true or false (kubernetes.enabled)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level %q: %v", errUsage, logLevel, err)
	}
	logger, err := newLogger(os.Stderr, level, logFormat)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	cfg := agent.DefaultConfig()
	if configFile != "" {
		if cfg, err = agent.LoadConfig(configFile); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["server"] {
		cfg.Server = server
	}
	if set["path"] {
		cfg.Paths = paths
	}
	if set["exclude"] {
		cfg.Exclude = excludes
	}
	if set["data-dir"] {
		cfg.DataDir = dataDir
	}
	if set["http-addr"] {
		cfg.HTTPAddr = httpAddr
	}
	if set["journald"] {
		cfg.Journald.Enabled = journald
	}
	if set["otlp-addr"] {
		cfg.Relay.HTTPAddr = otlpAddr
	}
	if set["otlp-grpc-addr"] {
		cfg.Relay.GRPCAddr = otlpGRPCAddr
	}
	if set["kubernetes"] {
		cfg.Kubernetes.Enabled = kubernetes
	}
	if len(labels) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, l := range labels {
			k, v, err := agent.ParseLabel(l)
			if err != nil {
				return fmt.Errorf("%w: --label: %v", errUsage, err)
			}
			cfg.Labels[k] = v
		}
	}
	cfg.Once = once

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := agent.New(cfg, logger, reg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
