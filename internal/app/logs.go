package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	logsapi "github.com/sightline/sightline/internal/api/logs"
	"github.com/sightline/sightline/internal/api/loki"
	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/ingest/elastic"
	"github.com/sightline/sightline/internal/ingest/jsonline"
	lokipush "github.com/sightline/sightline/internal/ingest/loki"
	"github.com/sightline/sightline/internal/ingest/otlp"
	"github.com/sightline/sightline/internal/ingest/syslog"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/query/logql"
)

// logsConfig is the logs section in force (read at start; its changes take
// effect after a restart).
func (a *App) logsConfig() config.LogsConfig { return a.cfg.Logs }

// logSchemaOptions turns the logs section into schema options.
func logSchemaOptions(lc config.LogsConfig, fields []string) (logstore.Options, error) {
	o := logstore.Options{
		MaxFields: lc.MaxFields, MaxFieldNameBytes: lc.MaxFieldNameBytes,
		MaxValueBytes: lc.MaxFieldValueBytes, MaxLineBytes: lc.MaxLineBytes,
		StreamLabels: []logstore.StreamLabel{},
	}
	for _, f := range fields {
		key, label, err := config.ParseStreamField(f)
		if err != nil {
			return o, fmt.Errorf("logs.stream_fields: %w", err)
		}
		o.StreamLabels = append(o.StreamLabels, logstore.StreamLabel{From: key, To: label})
	}
	return o, nil
}

// setupLogs wires the logs pillar: log ingest edges into the event store and
// the log query APIs on mux; it sets rcv.Logs for OTLP logs.
func (a *App) setupLogs(mux *http.ServeMux, rcv *otlp.Receiver) error {
	lc := a.logsConfig()
	so, err := logSchemaOptions(lc, lc.StreamFields)
	if err != nil {
		return err
	}
	schema, err := logstore.NewSchema(so)
	if err != nil {
		return err
	}
	writer := logstore.NewWriter(a.events, logstore.WriterOptions{Registerer: a.reg})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := writer.LoadBatchIDs(ctx, a.events, time.Now()); err != nil {
		// Exactly-once is best effort across restarts; a failure here
		// must not keep the server down.
		a.logger.Warn("could not load recent agent batch ids; retried batches from before the restart may be stored twice", "err", err)
	}
	rcv.Logs = &logstore.OTLPSink{Schema: schema, Writer: writer, Tenant: logstore.TenantFrom}

	maxReq := int64(a.cfg.Limits.MaxRequestBytes)
	mux.Handle("POST /loki/api/v1/push", &lokipush.Handler{Schema: schema, Writer: writer, MaxRequestBytes: maxReq, Limiter: a.limiter})

	src := &logstore.Source{R: a.events, Schema: schema}
	eo := logql.DefaultOptions()
	eo.MaxEntries, eo.MaxSeries = lc.MaxQueryEntries, lc.MaxQuerySeries
	engine, err := logql.NewEngine(src, eo)
	a.logEngine = engine // log alerting rules share it
	if err != nil {
		return err
	}
	api, err := loki.New(loki.Options{
		Engine: engine, Index: a.events, Counter: src, Logger: a.logger.With("component", "loki-api"),
		Version: a.build.Version, Revision: a.build.Revision, Branch: a.build.Branch,
		BuildDate: a.build.BuildDate, GoVersion: a.build.GoVersion,
	})
	if err != nil {
		return err
	}
	api.Register(mux, "")

	jm := logstore.JSONMapping{MessageFields: lc.MessageFields, TimeFields: lc.TimeFields}
	mux.Handle("POST /api/v1/logs/jsonline", &jsonline.Handler{Schema: schema, Writer: writer, Mapping: jm, MaxRequestBytes: maxReq, Limiter: a.limiter})

	esMap := jm
	if len(lc.ElasticStreamFields) > 0 {
		eso, err := logSchemaOptions(lc, lc.ElasticStreamFields)
		if err != nil {
			return err
		}
		esMap.StreamFields = eso.StreamLabels
	}
	es := &elastic.Handler{Schema: schema, Writer: writer, Mapping: esMap, MaxRequestBytes: maxReq, Limiter: a.limiter}
	es.Register(mux, "/elastic")

	logsAPI, err := logsapi.New(logsapi.Options{Engine: engine, Hits: a.events, Source: src})
	if err != nil {
		return err
	}
	logsAPI.Register(mux)

	if lc.SyslogAddr != "" {
		srv, err := syslog.Listen(syslog.Options{
			Addr: lc.SyslogAddr, Tenant: lc.SyslogTenant, Schema: schema, Writer: writer, Limiter: a.limiter,
			Logger: a.logger.With("component", "syslog"), Registerer: a.reg,
		})
		if err != nil {
			return err
		}
		// The stores are open, so syslog may be served at once; it stops
		// with the other pillars, before the stores close.
		a.onStop(func(context.Context) error { return srv.Stop() })
		srv.Serve()
	}
	return nil
}
