package logql

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// LogFilter applies a log query to single entries, for live tail and for
// callers that walk entries themselves. Like Pipeline it reuses buffers and
// must be used by one goroutine at a time.
type LogFilter struct {
	Expr     *LogExpr
	pipeline *Pipeline
}

// NewLogFilter compiles a log query (metric queries are an error).
func NewLogFilter(query string) (*LogFilter, error) {
	e, err := ParseLogExpr(query)
	if err != nil {
		return nil, err
	}
	p, err := NewPipeline(e.Stages)
	if err != nil {
		return nil, fmt.Errorf("compile log filter: %w", err)
	}
	return &LogFilter{Expr: e, pipeline: p}, nil
}

// Match runs the selector and pipeline on e. It returns the resulting line
// and labels, or ok=false when the entry is not selected or is dropped.
func (f *LogFilter) Match(e Entry) (line string, lbls labels.Labels, ok bool) {
	if !matchesAll(f.Expr.Matchers, e.Labels) {
		return "", labels.EmptyLabels(), false
	}
	line, ok = f.pipeline.Process(e.Timestamp, e.Line, e.Labels, e.Metadata)
	if !ok {
		return "", labels.EmptyLabels(), false
	}
	return line, f.pipeline.Labels(), true
}
