package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sightline/sightline/internal/app"
	"github.com/sightline/sightline/internal/config"
)

// serverFlags binds the server's flags; each one, when given, overrides the
// same setting in the config file.
type serverFlags struct {
	fs                                 *flag.FlagSet
	configFile                         string
	dataDir, httpAddr, grpcAddr, hAddr string
	logLevel, logFormat                string
	retention, retentionSize           string
	queryTimeout                       string
	queryMaxSamples                    int
	externalURL                        string
}

func newServerFlags(name string) *serverFlags {
	f := &serverFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	d := config.Default()
	f.fs.StringVar(&f.configFile, "config", "", "YAML config file (Prometheus sections such as scrape_configs plus sightline's own); optional")
	f.fs.StringVar(&f.dataDir, "data-dir", d.Server.DataDir, "where data is kept (server.data_dir)")
	f.fs.StringVar(&f.httpAddr, "http-addr", d.Server.HTTPAddr, "address of the HTTP APIs and UI (server.http_addr)")
	f.fs.StringVar(&f.grpcAddr, "otlp-grpc-addr", d.Server.OTLPGRPCAddr, "OTLP/gRPC address, empty to disable (server.otlp_grpc_addr)")
	f.fs.StringVar(&f.hAddr, "otlp-http-addr", d.Server.OTLPHTTPAddr, "OTLP/HTTP address, empty to disable (server.otlp_http_addr)")
	f.fs.StringVar(&f.externalURL, "external-url", "", "URL users reach this server at, for links in notifications (server.external_url)")
	f.fs.StringVar(&f.logLevel, "log-level", d.Server.LogLevel, "debug, info, warn or error (server.log_level)")
	f.fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	f.fs.StringVar(&f.retention, "metrics.retention", d.Metrics.Retention.String(), "how long metric samples are kept (metrics.retention)")
	f.fs.StringVar(&f.retentionSize, "metrics.retention-size", "0", "most bytes the metric store may use, e.g. 10GB; 0 = no size limit (metrics.retention_size)")
	f.fs.StringVar(&f.queryTimeout, "query.timeout", d.Query.Timeout.String(), "longest a query may run (query.timeout)")
	f.fs.IntVar(&f.queryMaxSamples, "query.max-samples", d.Query.MaxSamples, "most samples one query may load into memory (query.max_samples)")
	return f
}

// load reads the config file (if any) and applies the flags that were set.
func (f *serverFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.configFile != "" {
		var err error
		if cfg, err = config.LoadFile(f.configFile, nil); err != nil {
			return nil, err
		}
	}
	var errs []error
	f.fs.Visit(func(fl *flag.Flag) {
		var err error
		switch fl.Name {
		case "data-dir":
			cfg.Server.DataDir = f.dataDir
		case "http-addr":
			cfg.Server.HTTPAddr = f.httpAddr
		case "otlp-grpc-addr":
			cfg.Server.OTLPGRPCAddr = f.grpcAddr
		case "otlp-http-addr":
			cfg.Server.OTLPHTTPAddr = f.hAddr
		case "external-url":
			cfg.Server.ExternalURL = f.externalURL
		case "log-level":
			cfg.Server.LogLevel = f.logLevel
		case "metrics.retention":
			cfg.Metrics.Retention, err = model.ParseDuration(f.retention)
		case "metrics.retention-size":
			cfg.Metrics.RetentionSize, err = config.ParseByteSize(f.retentionSize)
		case "query.timeout":
			cfg.Query.Timeout, err = model.ParseDuration(f.queryTimeout)
		case "query.max-samples":
			cfg.Query.MaxSamples = f.queryMaxSamples
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", fl.Name, err))
		}
	})
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// flagMap is what /api/v1/status/flags reports.
func (f *serverFlags) flagMap() map[string]string {
	m := map[string]string{}
	f.fs.VisitAll(func(fl *flag.Flag) { m[fl.Name] = fl.Value.String() })
	return m
}

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	f := newServerFlags("server")
	f.fs.SetOutput(stderr)
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sightline server: unexpected argument %q\n", f.fs.Arg(0))
		return errUsage
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	level, _ := config.ParseLogLevel(cfg.Server.LogLevel)
	logger, err := newLogger(stderr, level, f.logFormat)
	if err != nil {
		return err
	}
	a, err := app.New(cfg, f.flagMap(), buildInfo(), logger)
	if err != nil {
		return err
	}
	if f.configFile != "" {
		a.SetConfigLoader(f.load)
	}
	if err := a.Start(); err != nil {
		_ = a.Stop(context.Background())
		return err
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if f.configFile == "" {
				logger.Info("SIGHUP received, but no --config file to reload")
				continue
			}
			if err := a.ReloadFromFile(); err != nil {
				logger.Error("reload failed; the previous configuration stays in force", "err", err)
			}
		case <-ctx.Done():
			logger.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return a.Stop(sctx)
		}
	}
}

func buildInfo() app.BuildInfo {
	return app.BuildInfo{Version: version, Revision: revision, Branch: branch, BuildDate: buildDate, GoVersion: runtime.Version()}
}
