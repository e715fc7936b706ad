package logql

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// Options bounds the work of one query.
type Options struct {
	// MaxEntries caps the limit of log queries (Loki's max_entries_limit_per_query).
	MaxEntries int
	// MaxSeries caps the number of series a metric query may return.
	MaxSeries int
	// MaxPoints caps the number of steps of a range query.
	MaxPoints int
	// MaxSamples caps the samples a metric query may hold in memory.
	MaxSamples int
}

// DefaultOptions returns Loki-like defaults.
func DefaultOptions() Options {
	return Options{MaxEntries: 5000, MaxSeries: 500, MaxPoints: 11000, MaxSamples: 50_000_000}
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.MaxEntries <= 0 || o.MaxSeries <= 0 || o.MaxPoints <= 0 || o.MaxSamples <= 0 {
		return fmt.Errorf("validate logql options: MaxEntries, MaxSeries, MaxPoints and MaxSamples must be positive (got %+v)", o)
	}
	return nil
}

// Engine evaluates LogQL queries against a Source.
type Engine struct {
	src  Source
	opts Options
}

// NewEngine returns an engine over src.
func NewEngine(src Source, opts Options) (*Engine, error) {
	if src == nil {
		return nil, errors.New("new logql engine: nil source")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Engine{src: src, opts: opts}, nil
}

// Params are the inputs of one evaluation.
type Params struct {
	Tenant string
	// Start and End bound the query. Log queries return entries with
	// Start <= ts < End. Metric queries are evaluated at Start, Start+Step,
	// ... up to End inclusive; with Step == 0 they are instant queries at End.
	Start, End time.Time
	Step       time.Duration
	Direction  Direction
	// Limit is the maximum number of entries of a log query (0 = MaxEntries).
	Limit int
}

// ResultType names the shape of a Result, as in the Loki HTTP API.
type ResultType string

// Result types.
const (
	TypeStreams ResultType = "streams"
	TypeMatrix  ResultType = "matrix"
	TypeVector  ResultType = "vector"
	TypeScalar  ResultType = "scalar"
)

// StreamEntry is one line of a result stream.
type StreamEntry struct {
	Timestamp int64 // unix nanoseconds
	Line      string
}

// Stream is a group of entries with the same final label set.
type Stream struct {
	Labels  labels.Labels
	Entries []StreamEntry
}

// Point is one value at a time (unix nanoseconds).
type Point struct {
	T int64
	V float64
}

// Series is a labelled list of points (matrix results).
type Series struct {
	Labels labels.Labels
	Points []Point
}

// Sample is one labelled value (vector results).
type Sample struct {
	Labels labels.Labels
	T      int64
	V      float64
}

// Stats counts the work done by a query.
type Stats struct {
	EntriesScanned int64 // entries returned by the Source
	BytesScanned   int64 // bytes of their lines
	EntriesMatched int64 // entries that passed the pipeline
}

// Result is the answer to a query; the field named by Type is set.
type Result struct {
	Type    ResultType
	Streams []Stream
	Matrix  []Series
	Vector  []Sample
	Scalar  Point
	Stats   Stats
}

// QueryError is an evaluation error caused by the query or the data (as
// opposed to a Source failure); APIs map it to 400.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

func queryErrorf(format string, args ...any) error {
	return &QueryError{Msg: fmt.Sprintf(format, args...)}
}

// Query parses and evaluates q.
func (e *Engine) Query(ctx context.Context, q string, p Params) (*Result, error) {
	expr, err := ParseExpr(q)
	if err != nil {
		return nil, err
	}
	return e.Eval(ctx, expr, p)
}

// Eval evaluates a parsed expression.
func (e *Engine) Eval(ctx context.Context, expr Expr, p Params) (*Result, error) {
	if p.End.Before(p.Start) {
		return nil, queryErrorf("end %s is before start %s", p.End.Format(time.RFC3339Nano), p.Start.Format(time.RFC3339Nano))
	}
	switch x := expr.(type) {
	case *LogExpr:
		return e.evalLogs(ctx, x, p)
	case SampleExpr:
		return e.evalMetric(ctx, x, p)
	}
	return nil, fmt.Errorf("eval: unknown expression type %T", expr)
}

// ---- log queries ----

type keptEntry struct {
	ts     int64
	seq    int64
	line   string
	series int
}

func (e *Engine) evalLogs(ctx context.Context, x *LogExpr, p Params) (*Result, error) {
	limit := p.Limit
	if limit <= 0 || limit > e.opts.MaxEntries {
		if p.Limit > e.opts.MaxEntries {
			return nil, queryErrorf("max entries limit per query exceeded, limit > max_entries_limit (%d > %d)", p.Limit, e.opts.MaxEntries)
		}
		limit = e.opts.MaxEntries
	}
	pl, err := NewPipeline(x.Stages)
	if err != nil {
		return nil, queryErrorf("%v", err)
	}
	hints, lhints, pure := pushdownHints(x.Stages)
	sp := SelectParams{
		Tenant: p.Tenant, Start: p.Start.UnixNano(), End: p.End.UnixNano(),
		Direction: p.Direction, Matchers: x.Matchers, LineFilters: hints, LabelFilters: lhints,
	}
	if pure {
		sp.Limit = limit
	}
	res := &Result{Type: TypeStreams}
	if sp.Start >= sp.End {
		return res, nil
	}
	it, err := e.src.Select(ctx, sp)
	if err != nil {
		return nil, fmt.Errorf("select entries: %w", err)
	}
	defer it.Close()

	less := func(a, b keptEntry) bool {
		if a.ts != b.ts {
			if p.Direction == Forward {
				return a.ts < b.ts
			}
			return a.ts > b.ts
		}
		return a.seq < b.seq
	}
	var (
		kept   []keptEntry
		series seriesIndex
		seq    int64
	)
	ordered := false
	if oi, ok := it.(OrderedIterator); ok {
		ordered = oi.Ordered()
	}
	for it.Next() {
		ent := it.At()
		res.Stats.EntriesScanned++
		res.Stats.BytesScanned += int64(len(ent.Line))
		if res.Stats.EntriesScanned&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if ent.Timestamp < sp.Start || ent.Timestamp >= sp.End || !matchesAll(x.Matchers, ent.Labels) {
			continue
		}
		line, ok := pl.Process(ent.Timestamp, ent.Line, ent.Labels, ent.Metadata)
		if !ok {
			continue
		}
		res.Stats.EntriesMatched++
		idx := series.lookup(&pl.b)
		seq++
		kept = append(kept, keptEntry{ts: ent.Timestamp, seq: seq, line: line, series: idx})
		if ordered && len(kept) >= limit {
			break // the source delivers in order: nothing later can rank higher
		}
		if len(kept) >= 2*limit+1024 {
			sort.Slice(kept, func(i, j int) bool { return less(kept[i], kept[j]) })
			kept = kept[:limit]
			series.compact(kept)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate entries: %w", err)
	}
	sort.Slice(kept, func(i, j int) bool { return less(kept[i], kept[j]) })
	if len(kept) > limit {
		kept = kept[:limit]
	}
	streams := make([]Stream, len(series.labels))
	for i := range streams {
		streams[i].Labels = series.labels[i]
	}
	for _, k := range kept {
		streams[k.series].Entries = append(streams[k.series].Entries, StreamEntry{Timestamp: k.ts, Line: k.line})
	}
	for _, s := range streams {
		if len(s.Entries) > 0 {
			res.Streams = append(res.Streams, s)
		}
	}
	sort.Slice(res.Streams, func(i, j int) bool { return labels.Compare(res.Streams[i].Labels, res.Streams[j].Labels) < 0 })
	return res, nil
}

func matchesAll(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// seriesIndex maps label sets held in a labelsBuilder to dense indexes,
// allocating only for new series.
type seriesIndex struct {
	byHash map[uint64][]int
	labels []labels.Labels
	hashes []uint64
	d      xxhash.Digest
}

// compact keeps only the series that kept entries refer to, renumbering
// them, so a log query's memory stays bounded by its limit.
func (s *seriesIndex) compact(kept []keptEntry) {
	remap := make(map[int]int, len(kept))
	var (
		lbls   []labels.Labels
		hashes []uint64
	)
	byHash := make(map[uint64][]int, len(kept))
	for i := range kept {
		old := kept[i].series
		n, ok := remap[old]
		if !ok {
			n = len(lbls)
			remap[old] = n
			lbls = append(lbls, s.labels[old])
			hashes = append(hashes, s.hashes[old])
			byHash[s.hashes[old]] = append(byHash[s.hashes[old]], n)
		}
		kept[i].series = n
	}
	s.labels, s.hashes, s.byHash = lbls, hashes, byHash
}

func (s *seriesIndex) lookup(b *labelsBuilder) int {
	h := b.hash(&s.d)
	if s.byHash == nil {
		s.byHash = map[uint64][]int{}
	}
	for _, i := range s.byHash[h] {
		if b.equal(s.labels[i]) {
			return i
		}
	}
	s.labels = append(s.labels, b.labels())
	s.hashes = append(s.hashes, h)
	i := len(s.labels) - 1
	s.byHash[h] = append(s.byHash[h], i)
	return i
}

// errorSeriesMessage explains how to handle pipeline errors in metric queries.
func pipelineError(b *labelsBuilder) error {
	b.filter = nil
	return queryErrorf("pipeline error: %q for series %s; metric queries fail on lines the pipeline could not process; drop them with a label filter such as | __error__=\"\" (or | __error__!=%q to skip only this error)",
		b.err, b.labels().String(), b.err)
}

// ---- helpers shared by the metric evaluator ----

func stepTimes(p Params) []int64 {
	if p.Step <= 0 {
		return []int64{p.End.UnixNano()}
	}
	var ts []int64
	for t := p.Start.UnixNano(); t <= p.End.UnixNano(); t += int64(p.Step) {
		ts = append(ts, t)
	}
	return ts
}

func groupLabels(ls labels.Labels, g *Grouping) labels.Labels {
	if g == nil {
		return labels.EmptyLabels()
	}
	b := labels.NewBuilder(ls)
	if g.Without {
		b.Del(g.Labels...)
	} else {
		b.Keep(g.Labels...)
	}
	return b.Labels()
}

func equalityLabels(ms []*labels.Matcher) labels.Labels {
	var sb labels.ScratchBuilder
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Type == labels.MatchEqual && !seen[m.Name] {
			seen[m.Name] = true
			sb.Add(m.Name, m.Value)
		}
	}
	sb.Sort()
	return sb.Labels()
}

func describeLabels(ls labels.Labels) string {
	s := ls.String()
	if strings.TrimSpace(s) == "" {
		return "{}"
	}
	return s
}
