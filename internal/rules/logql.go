package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/parser/posrange"
	"github.com/prometheus/prometheus/util/features"

	"github.com/sightline/sightline/internal/query/logql"
)

// LogQLParser lets Prometheus' rules engine load log rules: ParseExpr
// accepts LogQL metric queries and returns an expression whose String() is
// the canonical LogQL text, which is what the engine hands to the query
// function. The other methods are not used for rule files and refuse.
type LogQLParser struct{}

var _ parser.Parser = LogQLParser{}

// ParseExpr parses a LogQL metric query.
func (LogQLParser) ParseExpr(input string) (parser.Expr, error) {
	e, err := logql.ParseExpr(input)
	if err != nil {
		return nil, err
	}
	if _, ok := e.(logql.SampleExpr); !ok {
		return nil, fmt.Errorf("parse log rule: %q is a log query; a rule needs a metric query such as count_over_time(...[5m])", input)
	}
	return &LogQLExpr{Text: e.String(), Expr: e}, nil
}

var errNotForLogRules = errors.New("not supported for LogQL rules")

// ParseMetric is not used for log rules.
func (LogQLParser) ParseMetric(string) (labels.Labels, error) {
	return labels.EmptyLabels(), errNotForLogRules
}

// ParseMetricSelector is not used for log rules.
func (LogQLParser) ParseMetricSelector(string) ([]*labels.Matcher, error) {
	return nil, errNotForLogRules
}

// ParseMetricSelectors is not used for log rules.
func (LogQLParser) ParseMetricSelectors([]string) ([][]*labels.Matcher, error) {
	return nil, errNotForLogRules
}

// ParseSeriesDesc is not used for log rules.
func (LogQLParser) ParseSeriesDesc(string) (labels.Labels, []parser.SequenceValue, error) {
	return labels.EmptyLabels(), nil, errNotForLogRules
}

// RegisterFeatures registers nothing.
func (LogQLParser) RegisterFeatures(features.Collector) {}

// LogQLExpr carries a parsed LogQL metric query through Prometheus' rules
// engine. It is a leaf as far as PromQL tooling is concerned; do not walk
// it with parser.Inspect (which panics on unknown nodes).
type LogQLExpr struct {
	Text string
	Expr logql.Expr
}

func (e *LogQLExpr) String() string    { return e.Text }
func (e *LogQLExpr) Pretty(int) string { return e.Text }
func (e *LogQLExpr) PositionRange() posrange.PositionRange {
	return posrange.PositionRange{End: posrange.Pos(len(e.Text))}
}
func (e *LogQLExpr) Type() parser.ValueType { return parser.ValueTypeVector }
func (e *LogQLExpr) PromQLExpr()            {}

// logQueryFunc evaluates rule expressions with LogQL.
func logQueryFunc(q LogQuerier) func(ctx context.Context, qs string, t time.Time) (promql.Vector, error) {
	return q.InstantVector
}

// LogQLEngine adapts a LogQL engine to LogQuerier.
type LogQLEngine struct {
	Engine *logql.Engine
	// Tenant the rules read (empty: the default tenant).
	Tenant string
}

// InstantVector runs q as an instant metric query at ts.
func (e LogQLEngine) InstantVector(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
	res, err := e.Engine.Query(ctx, q, logql.Params{Tenant: e.Tenant, Start: ts, End: ts})
	if err != nil {
		return nil, fmt.Errorf("evaluate log rule: %w", err)
	}
	switch res.Type {
	case logql.TypeVector:
		v := make(promql.Vector, 0, len(res.Vector))
		for _, s := range res.Vector {
			v = append(v, promql.Sample{Metric: s.Labels, T: ts.UnixMilli(), F: s.V})
		}
		return v, nil
	case logql.TypeScalar:
		return promql.Vector{{Metric: labels.EmptyLabels(), T: ts.UnixMilli(), F: res.Scalar.V}}, nil
	}
	return nil, fmt.Errorf("evaluate log rule: query returned %s, want a vector", res.Type)
}
