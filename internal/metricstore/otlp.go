package metricstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	deltatocumulative "github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatocumulativeprocessor"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage"
	otlptranslator "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"
)

// OTLPWriter stores OTLP metrics as Prometheus series, named and labelled by
// Prometheus' own OTLP translator (unit and _total suffixes, resource
// attributes → job/instance and target_info) under the `otlp:` section of
// the configuration. Delta sums and histograms are converted to cumulative
// in memory (streams idle for MaxStale are forgotten; at most MaxStreams are
// tracked, beyond that new delta streams are dropped and counted).
//
// It is safe for concurrent use.
type OTLPWriter struct {
	app      storage.AppendableV2
	config   func() *promconfig.Config
	lookback time.Duration
	logger   *slog.Logger
	pool     sync.Pool

	cumulative consumer.Metrics // writes what it is given
	delta      consumer.Metrics // converts deltas, then calls cumulative
	warnings   *prometheus.CounterVec
}

// OTLPWriterOptions bound the delta-to-cumulative state.
type OTLPWriterOptions struct {
	LookbackDelta  time.Duration // target_info sample spacing (query lookback)
	DeltaMaxStale  time.Duration // default 5m
	DeltaMaxStream int           // default 100k
}

// NewOTLPWriter builds a writer appending to app.
func NewOTLPWriter(app storage.AppendableV2, cfg func() *promconfig.Config, opts OTLPWriterOptions, logger *slog.Logger, reg prometheus.Registerer) (*OTLPWriter, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.DeltaMaxStale <= 0 {
		opts.DeltaMaxStale = 5 * time.Minute
	}
	if opts.DeltaMaxStream <= 0 {
		opts.DeltaMaxStream = 100_000
	}
	if opts.LookbackDelta <= 0 {
		opts.LookbackDelta = 5 * time.Minute
	}
	w := &OTLPWriter{app: app, config: cfg, lookback: opts.LookbackDelta, logger: logger}
	w.pool.New = func() any { return otlptranslator.NewPrometheusConverter(nil) }
	w.warnings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sightline_otlp_metric_translation_warnings_total",
		Help: "Warnings while translating OTLP metrics to Prometheus series, by category.",
	}, []string{"category"})
	if reg != nil {
		reg.MustRegister(w.warnings)
	}
	w.cumulative = consumerFunc(w.write)

	fac := deltatocumulative.NewFactory()
	pcfg := fac.CreateDefaultConfig().(*deltatocumulative.Config)
	pcfg.MaxStale = opts.DeltaMaxStale
	pcfg.MaxStreams = opts.DeltaMaxStream
	set := processor.Settings{
		ID:                component.NewID(fac.Type()),
		TelemetrySettings: component.TelemetrySettings{MeterProvider: noop.NewMeterProvider(), Logger: zap.NewNop()},
	}
	d, err := fac.CreateMetrics(context.Background(), set, pcfg, w.cumulative)
	if err != nil {
		return nil, fmt.Errorf("create delta-to-cumulative converter: %w", err)
	}
	if err := d.Start(context.Background(), nil); err != nil {
		return nil, fmt.Errorf("start delta-to-cumulative converter: %w", err)
	}
	w.delta = d
	return w, nil
}

// ConsumeMetrics stores md. Errors wrap the store's sentinel errors, so
// out-of-order or malformed samples map to 400 / INVALID_ARGUMENT.
func (w *OTLPWriter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if hasDelta(md) {
		return w.delta.ConsumeMetrics(ctx, md)
	}
	return w.write(ctx, md)
}

func (w *OTLPWriter) write(ctx context.Context, md pmetric.Metrics) (err error) {
	cfg := w.config()
	ocfg := cfg.OTLPConfig
	app := w.app.AppenderV2(ctx)
	conv := w.pool.Get().(*otlptranslator.PrometheusConverter)
	conv.Reset(app)
	defer func() {
		if err != nil {
			_ = app.Rollback()
		} else if cerr := app.Commit(); cerr != nil {
			err = fmt.Errorf("commit OTLP metrics: %w", cerr)
		}
		conv.Reset(nil)
		w.pool.Put(conv)
	}()
	annots, err := conv.FromMetrics(ctx, md, otlptranslator.Settings{
		AddMetricSuffixes:                    ocfg.TranslationStrategy.ShouldAddSuffixes(),
		AllowUTF8:                            !ocfg.TranslationStrategy.ShouldEscape(),
		PromoteResourceAttributes:            otlptranslator.NewPromoteResourceAttributes(ocfg),
		KeepIdentifyingResourceAttributes:    ocfg.KeepIdentifyingResourceAttributes,
		ConvertHistogramsToNHCB:              ocfg.ConvertHistogramsToNHCB,
		PromoteScopeMetadata:                 ocfg.PromoteScopeMetadata,
		LookbackDelta:                        w.lookback,
		LabelNameUnderscoreSanitization:      ocfg.LabelNameUnderscoreSanitization,
		LabelNamePreserveMultipleUnderscores: ocfg.LabelNamePreserveMultipleUnderscores,
	})
	if ws, _ := annots.AsStrings("", 0, 0); len(ws) > 0 {
		for cat, n := range otlptranslator.CountWarningsByCategory(annots) {
			w.warnings.WithLabelValues(string(cat)).Add(float64(n))
		}
		w.logger.Warn("OTLP metrics translated with warnings", "warnings", ws)
	}
	if err != nil {
		return fmt.Errorf("store OTLP metrics: %w", err)
	}
	return nil
}

// Shutdown stops the delta converter.
func (w *OTLPWriter) Shutdown(ctx context.Context) error {
	if s, ok := w.delta.(component.Component); ok {
		return s.Shutdown(ctx)
	}
	return nil
}

type consumerFunc func(context.Context, pmetric.Metrics) error

func (f consumerFunc) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return f(ctx, md)
}
func (consumerFunc) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func hasDelta(md pmetric.Metrics) bool {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				var t pmetric.AggregationTemporality
				switch m.Type() {
				case pmetric.MetricTypeSum:
					t = m.Sum().AggregationTemporality()
				case pmetric.MetricTypeHistogram:
					t = m.Histogram().AggregationTemporality()
				case pmetric.MetricTypeExponentialHistogram:
					t = m.ExponentialHistogram().AggregationTemporality()
				}
				if t == pmetric.AggregationTemporalityDelta {
					return true
				}
			}
		}
	}
	return false
}
