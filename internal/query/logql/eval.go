package logql

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"
)

type sample struct {
	lbls labels.Labels
	v    float64
}

// value is the result of evaluating a node: a scalar, or one vector per step.
type value struct {
	isScalar bool
	scalar   float64
	vecs     [][]sample
}

type evaluator struct {
	e       *Engine
	ctx     context.Context
	p       Params
	steps   []int64
	stats   *Stats
	samples int
}

func (e *Engine) evalMetric(ctx context.Context, x SampleExpr, p Params) (*Result, error) {
	if p.Step < 0 {
		return nil, queryErrorf("step %s must not be negative", p.Step)
	}
	if p.Step > 0 {
		if n := (p.End.UnixNano()-p.Start.UnixNano())/int64(p.Step) + 1; n > int64(e.opts.MaxPoints) {
			return nil, queryErrorf("exceeded maximum resolution of %d points per time series; increase the step (got %d points)", e.opts.MaxPoints, n)
		}
	}
	steps := stepTimes(p)
	res := &Result{}
	ev := &evaluator{e: e, ctx: ctx, p: p, steps: steps, stats: &res.Stats}
	v, err := ev.eval(x)
	if err != nil {
		return nil, err
	}
	keepOrder := false
	if va, ok := x.(*VectorAgg); ok {
		switch va.Op {
		case "sort", "sort_desc", "topk", "bottomk":
			keepOrder = true
		}
	}
	if p.Step <= 0 {
		if v.isScalar {
			res.Type = TypeScalar
			res.Scalar = Point{T: steps[0], V: v.scalar}
			return res, nil
		}
		res.Type = TypeVector
		if err := checkDuplicates(v.vecs[0]); err != nil {
			return nil, err
		}
		for _, s := range v.vecs[0] {
			res.Vector = append(res.Vector, Sample{Labels: s.lbls, T: steps[0], V: s.v})
		}
		if len(res.Vector) > e.opts.MaxSeries {
			return nil, queryErrorf("maximum number of series (%d) reached for a single query; narrow the selector or aggregate with by/without", e.opts.MaxSeries)
		}
		if !keepOrder {
			sort.SliceStable(res.Vector, func(i, j int) bool { return labels.Compare(res.Vector[i].Labels, res.Vector[j].Labels) < 0 })
		}
		return res, nil
	}
	res.Type = TypeMatrix
	if v.isScalar {
		s := Series{Labels: labels.EmptyLabels()}
		for _, t := range steps {
			s.Points = append(s.Points, Point{T: t, V: v.scalar})
		}
		res.Matrix = []Series{s}
		return res, nil
	}
	idx := map[uint64]int{}
	for si, vec := range v.vecs {
		if err := checkDuplicates(vec); err != nil {
			return nil, err
		}
		for _, s := range vec {
			h := s.lbls.Hash()
			i, ok := idx[h]
			if !ok {
				i = len(res.Matrix)
				idx[h] = i
				res.Matrix = append(res.Matrix, Series{Labels: s.lbls})
				if len(res.Matrix) > e.opts.MaxSeries {
					return nil, queryErrorf("maximum number of series (%d) reached for a single query; narrow the selector or aggregate with by/without", e.opts.MaxSeries)
				}
			}
			res.Matrix[i].Points = append(res.Matrix[i].Points, Point{T: steps[si], V: s.v})
		}
	}
	sort.Slice(res.Matrix, func(i, j int) bool { return labels.Compare(res.Matrix[i].Labels, res.Matrix[j].Labels) < 0 })
	return res, nil
}

// checkDuplicates rejects a vector holding two samples with the same labels
// (for instance after label_replace or ignoring), as Prometheus does.
func checkDuplicates(vec []sample) error {
	if len(vec) < 2 {
		return nil
	}
	seen := make(map[uint64]struct{}, len(vec))
	for _, s := range vec {
		h := s.lbls.Hash()
		if _, dup := seen[h]; dup {
			return queryErrorf("vector cannot contain metrics with the same labelset %s", describeLabels(s.lbls))
		}
		seen[h] = struct{}{}
	}
	return nil
}

func (ev *evaluator) eval(x SampleExpr) (value, error) {
	if err := ev.ctx.Err(); err != nil {
		return value{}, err
	}
	switch n := x.(type) {
	case *Literal:
		return value{isScalar: true, scalar: n.Value}, nil
	case *VectorLit:
		vecs := make([][]sample, len(ev.steps))
		for i := range vecs {
			vecs[i] = []sample{{lbls: labels.EmptyLabels(), v: n.Value}}
		}
		return value{vecs: vecs}, nil
	case *RangeAgg:
		return ev.evalRange(n)
	case *VectorAgg:
		return ev.evalVectorAgg(n)
	case *BinOp:
		return ev.evalBinOp(n)
	case *LabelReplace:
		return ev.evalLabelReplace(n)
	}
	return value{}, fmt.Errorf("eval: unknown node %T", x)
}

// rangeSeries holds the samples of one series of a range aggregation.
type rangeSeries struct {
	lbls labels.Labels
	ts   []int64
	vals []float64
}

func (s *rangeSeries) Len() int { return len(s.ts) }
func (s *rangeSeries) Less(i, j int) bool {
	return s.ts[i] < s.ts[j]
}
func (s *rangeSeries) Swap(i, j int) {
	s.ts[i], s.ts[j] = s.ts[j], s.ts[i]
	s.vals[i], s.vals[j] = s.vals[j], s.vals[i]
}

func convertUnwrap(conv, v string) (float64, error) {
	switch conv {
	case "duration", "duration_seconds":
		return convertValue(KindDuration, v)
	case "bytes":
		return convertValue(KindBytes, v)
	}
	return convertValue(KindNumber, v)
}

// sumDecomposable lists range aggregations whose sum over a group equals the
// aggregation of the group's merged samples, so "sum by (g) (f(x[r]))" can
// group samples while reading and never build one series per label set.
var sumDecomposable = map[string]bool{
	"count_over_time": true, "rate": true, "bytes_over_time": true,
	"bytes_rate": true, "sum_over_time": true,
}

func (ev *evaluator) evalRange(r *RangeAgg) (value, error) {
	return ev.evalRangeGrouped(r, nil)
}

// evalRangeGrouped evaluates r; with push set, samples are grouped by it
// while reading (only valid when the caller sums the result by push).
func (ev *evaluator) evalRangeGrouped(r *RangeAgg, push *Grouping) (value, error) {
	lr := r.Range
	interval, offset := int64(lr.Interval), int64(lr.Offset)
	first, last := ev.steps[0], ev.steps[len(ev.steps)-1]
	pl, err := NewPipeline(lr.Log.Stages)
	if err != nil {
		return value{}, queryErrorf("%v", err)
	}
	var post []predFn
	if lr.Unwrap != nil {
		for _, f := range lr.Unwrap.Post {
			post = append(post, compilePred(f.Pred))
		}
	}
	hints, lhints, _ := pushdownHints(lr.Log.Stages)
	sp := SelectParams{
		Tenant: ev.p.Tenant, Start: first - offset - interval + 1, End: last - offset + 1,
		Direction: Forward, Matchers: lr.Log.Matchers, LineFilters: hints, LabelFilters: lhints,
	}
	it, err := ev.e.src.Select(ev.ctx, sp)
	if err != nil {
		return value{}, fmt.Errorf("select entries: %w", err)
	}
	defer it.Close()
	var (
		idx    seriesIndex
		series []*rangeSeries
	)
	b := &pl.b
	b.filter = newLabelFilter(push)
	// Grouped sums whose windows span few steps add each sample straight
	// into per-step sums: memory is O(groups x steps), not O(samples).
	var acc *stepAccumulator
	if push != nil && (len(ev.steps) == 1 || interval/int64(ev.p.Step) <= maxStepsPerSample) {
		acc = newStepAccumulator(ev.steps, ev.p.Step, interval, offset)
	}
	if push != nil && !push.Without {
		b.need = neededLabels(lr, push)
	}
	for it.Next() {
		ent := it.At()
		ev.stats.EntriesScanned++
		ev.stats.BytesScanned += int64(len(ent.Line))
		if ev.stats.EntriesScanned&1023 == 0 {
			if err := ev.ctx.Err(); err != nil {
				return value{}, err
			}
		}
		if ent.Timestamp < sp.Start || ent.Timestamp >= sp.End || !matchesAll(lr.Log.Matchers, ent.Labels) {
			continue
		}
		line, ok := pl.Process(ent.Timestamp, ent.Line, ent.Labels, ent.Metadata)
		if !ok {
			continue
		}
		v := 1.0
		switch {
		case lr.Unwrap != nil:
			raw, _ := b.get(lr.Unwrap.Label)
			if raw == "" {
				// A line without the label (or with an empty value) has no sample.
				continue
			}
			f, err := convertUnwrap(lr.Unwrap.Conv, raw)
			if err != nil {
				b.setErr(errSample, err.Error())
				f = 0
			}
			v = f
			keep := true
			for _, pf := range post {
				if !pf(b) {
					keep = false
					break
				}
			}
			if !keep {
				continue
			}
			// The unwrapped label is not part of the series.
			b.del(lr.Unwrap.Label)
		case r.Op == "bytes_over_time" || r.Op == "bytes_rate":
			v = float64(len(line))
		}
		if b.hasErr() {
			return value{}, pipelineError(b)
		}
		ev.stats.EntriesMatched++
		i := idx.lookup(b)
		if i == len(series) {
			series = append(series, &rangeSeries{lbls: idx.labels[i]})
			if acc != nil {
				acc.add()
			}
		}
		if acc != nil {
			acc.addSample(i, ent.Timestamp, v)
			continue
		}
		ev.samples++
		if ev.samples > ev.e.opts.MaxSamples {
			return value{}, queryErrorf("query would hold more than %d samples; shorten the time range or narrow the selector", ev.e.opts.MaxSamples)
		}
		s := series[i]
		s.ts = append(s.ts, ent.Timestamp)
		s.vals = append(s.vals, v)
	}
	if err := it.Err(); err != nil {
		return value{}, fmt.Errorf("iterate entries: %w", err)
	}
	if acc != nil {
		return acc.result(r, series), nil
	}
	if r.Grouping != nil {
		series = regroup(series, r.Grouping)
	}
	for _, s := range series {
		if !sort.IsSorted(s) {
			sort.Stable(s)
		}
	}
	vecs := make([][]sample, len(ev.steps))
	if r.Op == "absent_over_time" {
		lbls := equalityLabels(lr.Log.Matchers)
		for si, t := range ev.steps {
			lo, hi := t-offset-interval, t-offset
			present := false
			for _, s := range series {
				k := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > lo })
				if k < len(s.ts) && s.ts[k] <= hi {
					present = true
					break
				}
			}
			if !present {
				vecs[si] = []sample{{lbls: lbls, v: 1}}
			}
		}
		return value{vecs: vecs}, nil
	}
	for _, s := range series {
		lo, hi := 0, 0
		for si, t := range ev.steps {
			start, end := t-offset-interval, t-offset
			for lo < len(s.ts) && s.ts[lo] <= start {
				lo++
			}
			if hi < lo {
				hi = lo
			}
			for hi < len(s.ts) && s.ts[hi] <= end {
				hi++
			}
			if hi == lo {
				continue
			}
			v, ok := rangeFunc(r, s.ts[lo:hi], s.vals[lo:hi], start, end, lr.Unwrap != nil)
			if !ok {
				continue
			}
			vecs[si] = append(vecs[si], sample{lbls: s.lbls, v: v})
		}
	}
	return value{vecs: vecs}, nil
}

// neededLabels returns the labels a grouped range aggregation can observe:
// the grouping and every label a stage names. It returns nil (extract all)
// when a template could read any label.
func neededLabels(lr *LogRange, g *Grouping) map[string]struct{} {
	need := map[string]struct{}{}
	add := func(n string) { need[n] = struct{}{} }
	for _, n := range g.Labels {
		add(n)
	}
	var walk func(LabelPred)
	walk = func(p LabelPred) {
		switch x := p.(type) {
		case *LabelBinary:
			walk(x.L)
			walk(x.R)
		case *LabelMatch:
			add(x.Matcher.Name)
		case *LabelCmp:
			add(x.Name)
		case *LabelIP:
			add(x.Name)
		}
	}
	for _, s := range lr.Log.Stages {
		switch x := s.(type) {
		case *LabelFilterStage:
			walk(x.Pred)
		case *LineFormatStage:
			return nil
		case *LabelFormatStage:
			for _, f := range x.Fmts {
				if f.IsTemplate {
					return nil
				}
				add(f.Src)
				add(f.Dst)
			}
		case *DropStage:
			for _, it := range x.Items {
				add(it.Name)
			}
		case *KeepStage:
			for _, it := range x.Items {
				add(it.Name)
			}
		}
	}
	if u := lr.Unwrap; u != nil {
		add(u.Label)
		for _, p := range u.Post {
			walk(p.Pred)
		}
	}
	return need
}

// maxStepsPerSample bounds the steps one sample may be added to by the
// stepAccumulator (range / step); beyond it samples are kept and windowed.
const maxStepsPerSample = 64

// stepAccumulator sums samples per group and step as they are read.
type stepAccumulator struct {
	steps            []int64
	step             int64
	interval, offset int64
	sums             [][]float64
	has              [][]bool
}

func newStepAccumulator(steps []int64, step time.Duration, interval, offset int64) *stepAccumulator {
	return &stepAccumulator{steps: steps, step: int64(step), interval: interval, offset: offset}
}

func (a *stepAccumulator) add() {
	a.sums = append(a.sums, make([]float64, len(a.steps)))
	a.has = append(a.has, make([]bool, len(a.steps)))
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// addSample adds v to every step whose window (t-offset-interval, t-offset]
// holds ts, i.e. every t in [ts+offset, ts+offset+interval).
func (a *stepAccumulator) addSample(g int, ts int64, v float64) {
	lo, hi := ts+a.offset, ts+a.offset+a.interval
	if len(a.steps) == 1 || a.step <= 0 {
		if t := a.steps[0]; t >= lo && t < hi {
			a.sums[g][0] += v
			a.has[g][0] = true
		}
		return
	}
	start := a.steps[0]
	kmin := max(ceilDiv(lo-start, a.step), 0)
	kmax := min(ceilDiv(hi-start, a.step)-1, int64(len(a.steps)-1))
	for k := kmin; k <= kmax; k++ {
		a.sums[g][k] += v
		a.has[g][k] = true
	}
}

func (a *stepAccumulator) result(r *RangeAgg, series []*rangeSeries) value {
	secs := float64(a.interval) / 1e9
	perSecond := r.Op == "rate" || r.Op == "bytes_rate"
	vecs := make([][]sample, len(a.steps))
	for g, s := range series {
		for k := range a.steps {
			if !a.has[g][k] {
				continue
			}
			v := a.sums[g][k]
			if perSecond {
				v /= secs
			}
			vecs[k] = append(vecs[k], sample{lbls: s.lbls, v: v})
		}
	}
	return value{vecs: vecs}
}

func regroup(series []*rangeSeries, g *Grouping) []*rangeSeries {
	byKey := map[uint64]*rangeSeries{}
	var out []*rangeSeries
	for _, s := range series {
		gl := groupLabels(s.lbls, g)
		h := gl.Hash()
		dst, ok := byKey[h]
		if !ok {
			dst = &rangeSeries{lbls: gl}
			byKey[h] = dst
			out = append(out, dst)
		}
		dst.ts = append(dst.ts, s.ts...)
		dst.vals = append(dst.vals, s.vals...)
	}
	return out
}

// rangeFunc applies a range aggregation to the samples of one window.
func rangeFunc(r *RangeAgg, ts []int64, vals []float64, start, end int64, unwrapped bool) (float64, bool) {
	secs := float64(end-start) / 1e9
	n := float64(len(vals))
	sum := func() float64 {
		s := 0.0
		for _, v := range vals {
			s += v
		}
		return s
	}
	switch r.Op {
	case "count_over_time":
		return n, true
	case "rate":
		if unwrapped {
			return sum() / secs, true
		}
		return n / secs, true
	case "bytes_over_time", "sum_over_time":
		return sum(), true
	case "bytes_rate":
		return sum() / secs, true
	case "avg_over_time":
		return sum() / n, true
	case "min_over_time":
		m := vals[0]
		for _, v := range vals[1:] {
			if v < m || math.IsNaN(m) {
				m = v
			}
		}
		return m, true
	case "max_over_time":
		m := vals[0]
		for _, v := range vals[1:] {
			if v > m || math.IsNaN(m) {
				m = v
			}
		}
		return m, true
	case "stddev_over_time", "stdvar_over_time":
		var mean, m2 float64
		for i, v := range vals {
			d := v - mean
			mean += d / float64(i+1)
			m2 += d * (v - mean)
		}
		variance := m2 / n
		if r.Op == "stddev_over_time" {
			return math.Sqrt(variance), true
		}
		return variance, true
	case "quantile_over_time":
		return quantile(r.Param, vals), true
	case "first_over_time":
		return vals[0], true
	case "last_over_time":
		return vals[len(vals)-1], true
	case "rate_counter":
		return counterRate(ts, vals, start, end)
	}
	return 0, false
}

// quantile returns the φ-quantile with linear interpolation between ranks.
func quantile(q float64, in []float64) float64 {
	if len(in) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	if q < 0 {
		return math.Inf(-1)
	}
	if q > 1 {
		return math.Inf(1)
	}
	vals := append([]float64(nil), in...)
	sort.Float64s(vals)
	rank := q * float64(len(vals)-1)
	lo := math.Floor(rank)
	hi := math.Min(lo+1, float64(len(vals)-1))
	w := rank - lo
	return vals[int(lo)]*(1-w) + vals[int(hi)]*w
}

// counterRate is the per-second rate of a counter over a window, accounting
// for resets and extrapolating to the window edges like Prometheus' rate.
func counterRate(ts []int64, vals []float64, start, end int64) (float64, bool) {
	if len(vals) < 2 {
		return 0, false
	}
	result := vals[len(vals)-1] - vals[0]
	for i := 1; i < len(vals); i++ {
		if vals[i] < vals[i-1] {
			result += vals[i-1]
		}
	}
	toStart := float64(ts[0]-start) / 1e9
	toEnd := float64(end-ts[len(ts)-1]) / 1e9
	sampled := float64(ts[len(ts)-1]-ts[0]) / 1e9
	if sampled <= 0 {
		return 0, false
	}
	avg := sampled / float64(len(vals)-1)
	if result > 0 && vals[0] >= 0 {
		if zero := sampled * (vals[0] / result); zero < toStart {
			toStart = zero
		}
	}
	threshold := avg * 1.1
	extrapolated := sampled
	if toStart < threshold {
		extrapolated += toStart
	} else {
		extrapolated += avg / 2
	}
	if toEnd < threshold {
		extrapolated += toEnd
	} else {
		extrapolated += avg / 2
	}
	result *= extrapolated / sampled
	return result / (float64(end-start) / 1e9), true
}

// ---- vector aggregation ----

type aggGroup struct {
	lbls          labels.Labels
	sum, min, max float64
	count         float64
	mean, m2      float64
	members       []sample
}

func (ev *evaluator) evalVectorAgg(a *VectorAgg) (value, error) {
	var (
		in  value
		err error
	)
	if ra, ok := a.Inner.(*RangeAgg); ok && a.Op == "sum" && ra.Grouping == nil && sumDecomposable[ra.Op] {
		// Grouping by "by ()" when no grouping is given sums everything.
		g := a.Grouping
		if g == nil {
			g = &Grouping{}
		}
		in, err = ev.evalRangeGrouped(ra, g)
	} else {
		in, err = ev.eval(a.Inner)
	}
	if err != nil {
		return value{}, err
	}
	if in.isScalar {
		return value{}, queryErrorf("%s expects a vector argument, got a scalar", a.Op)
	}
	out := make([][]sample, len(in.vecs))
	for si, vec := range in.vecs {
		switch a.Op {
		case "sort", "sort_desc":
			s := append([]sample(nil), vec...)
			desc := a.Op == "sort_desc"
			sort.SliceStable(s, func(i, j int) bool {
				vi, vj := s[i].v, s[j].v
				if math.IsNaN(vi) {
					return false
				}
				if math.IsNaN(vj) {
					return true
				}
				if desc {
					return vi > vj
				}
				return vi < vj
			})
			out[si] = s
			continue
		}
		groups := map[uint64]*aggGroup{}
		var order []*aggGroup
		for _, s := range vec {
			gl := groupLabels(s.lbls, a.Grouping)
			h := gl.Hash()
			g, ok := groups[h]
			if !ok {
				g = &aggGroup{lbls: gl, min: s.v, max: s.v}
				groups[h] = g
				order = append(order, g)
			}
			g.count++
			g.sum += s.v
			if s.v < g.min || math.IsNaN(g.min) {
				g.min = s.v
			}
			if s.v > g.max || math.IsNaN(g.max) {
				g.max = s.v
			}
			d := s.v - g.mean
			g.mean += d / g.count
			g.m2 += d * (s.v - g.mean)
			if a.Op == "topk" || a.Op == "bottomk" {
				g.members = append(g.members, s)
			}
		}
		for _, g := range order {
			var v float64
			switch a.Op {
			case "sum":
				v = g.sum
			case "avg":
				v = g.sum / g.count
			case "min":
				v = g.min
			case "max":
				v = g.max
			case "count":
				v = g.count
			case "stddev":
				v = math.Sqrt(g.m2 / g.count)
			case "stdvar":
				v = g.m2 / g.count
			case "topk", "bottomk":
				m := g.members
				top := a.Op == "topk"
				sort.SliceStable(m, func(i, j int) bool {
					if top {
						return m[i].v > m[j].v || (!math.IsNaN(m[i].v) && math.IsNaN(m[j].v))
					}
					return m[i].v < m[j].v || (!math.IsNaN(m[i].v) && math.IsNaN(m[j].v))
				})
				if len(m) > a.Param {
					m = m[:a.Param]
				}
				out[si] = append(out[si], m...)
				continue
			}
			out[si] = append(out[si], sample{lbls: g.lbls, v: v})
		}
	}
	return value{vecs: out}, nil
}

// ---- binary operations ----

func arith(op string, l, r float64) (float64, bool) {
	switch op {
	case "+":
		return l + r, true
	case "-":
		return l - r, true
	case "*":
		return l * r, true
	case "/":
		return l / r, true
	case "%":
		return math.Mod(l, r), true
	case "^":
		return math.Pow(l, r), true
	case "==":
		return l, l == r
	case "!=":
		return l, l != r
	case ">":
		return l, l > r
	case ">=":
		return l, l >= r
	case "<":
		return l, l < r
	case "<=":
		return l, l <= r
	}
	return 0, false
}

// applyOp combines two values; for comparisons it returns whether the pair
// is kept (or 0/1 with bool). keepVal is the value a filtering comparison keeps.
func applyOp(b *BinOp, l, r, keepVal float64) (float64, bool) {
	v, ok := arith(b.Op, l, r)
	if !isComparison(b.Op) {
		return v, true
	}
	if b.ReturnBool {
		if ok {
			return 1, true
		}
		return 0, true
	}
	return keepVal, ok
}

func (ev *evaluator) evalBinOp(b *BinOp) (value, error) {
	lv, err := ev.eval(b.LHS)
	if err != nil {
		return value{}, err
	}
	rv, err := ev.eval(b.RHS)
	if err != nil {
		return value{}, err
	}
	switch {
	case lv.isScalar && rv.isScalar:
		v, _ := applyOp(b, lv.scalar, rv.scalar, lv.scalar)
		return value{isScalar: true, scalar: v}, nil
	case lv.isScalar || rv.isScalar:
		out := make([][]sample, len(ev.steps))
		vec, sc, vecLeft := rv.vecs, lv.scalar, false
		if rv.isScalar {
			vec, sc, vecLeft = lv.vecs, rv.scalar, true
		}
		for si := range vec {
			for _, s := range vec[si] {
				l, r := sc, s.v
				if vecLeft {
					l, r = s.v, sc
				}
				v, keep := applyOp(b, l, r, s.v)
				if keep {
					out[si] = append(out[si], sample{lbls: s.lbls, v: v})
				}
			}
		}
		return value{vecs: out}, nil
	}
	out := make([][]sample, len(ev.steps))
	for si := range ev.steps {
		res, err := vectorBinOp(b, lv.vecs[si], rv.vecs[si])
		if err != nil {
			return value{}, err
		}
		out[si] = res
	}
	return value{vecs: out}, nil
}

func signature(ls labels.Labels, m *VectorMatching) uint64 {
	if m == nil || !m.HasLabels {
		return ls.Hash()
	}
	if m.On {
		h, _ := ls.HashForLabels(nil, m.Labels...)
		return h
	}
	h, _ := ls.HashWithoutLabels(nil, m.Labels...)
	return h
}

func vectorBinOp(b *BinOp, lhs, rhs []sample) ([]sample, error) {
	m := b.Matching
	switch b.Op {
	case "and", "unless":
		rs := map[uint64]bool{}
		for _, s := range rhs {
			rs[signature(s.lbls, m)] = true
		}
		var out []sample
		for _, s := range lhs {
			if rs[signature(s.lbls, m)] == (b.Op == "and") {
				out = append(out, s)
			}
		}
		return out, nil
	case "or":
		ls := map[uint64]bool{}
		out := append([]sample(nil), lhs...)
		for _, s := range lhs {
			ls[signature(s.lbls, m)] = true
		}
		for _, s := range rhs {
			if !ls[signature(s.lbls, m)] {
				out = append(out, s)
			}
		}
		return out, nil
	}
	card := ""
	if m != nil {
		card = m.Card
	}
	one, many := rhs, lhs
	if card == "group_right" {
		one, many = lhs, rhs
	}
	oneBySig := map[uint64]sample{}
	for _, s := range one {
		sig := signature(s.lbls, m)
		if _, dup := oneBySig[sig]; dup {
			side := "right"
			if card == "group_right" {
				side = "left"
			}
			return nil, queryErrorf("found duplicate series for the match group on the %s hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side", side)
		}
		oneBySig[sig] = s
	}
	seenMany := map[uint64]bool{}
	var out []sample
	for _, s := range many {
		sig := signature(s.lbls, m)
		o, ok := oneBySig[sig]
		if !ok {
			continue
		}
		if card == "" {
			if seenMany[sig] {
				return nil, queryErrorf("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
			}
			seenMany[sig] = true
		}
		l, r := s, o
		if card == "group_right" {
			l, r = o, s
		}
		v, keep := applyOp(b, l.v, r.v, l.v)
		if !keep {
			continue
		}
		out = append(out, sample{lbls: resultLabels(s.lbls, o.lbls, m), v: v})
	}
	return out, nil
}

func resultLabels(many, one labels.Labels, m *VectorMatching) labels.Labels {
	if m == nil {
		return many
	}
	lb := labels.NewBuilder(many)
	if m.Card == "" {
		if m.HasLabels {
			if m.On {
				lb.Keep(m.Labels...)
			} else {
				lb.Del(m.Labels...)
			}
		}
		return lb.Labels()
	}
	for _, name := range m.Include {
		if v := one.Get(name); v != "" {
			lb.Set(name, v)
		} else {
			lb.Del(name)
		}
	}
	return lb.Labels()
}

func (ev *evaluator) evalLabelReplace(n *LabelReplace) (value, error) {
	in, err := ev.eval(n.Inner)
	if err != nil {
		return value{}, err
	}
	if in.isScalar {
		return value{}, queryErrorf("label_replace expects a vector argument, got a scalar")
	}
	re, err := regexp.Compile("^(?s:" + n.Regex + ")$")
	if err != nil {
		return value{}, queryErrorf("invalid regex in label_replace: %v", err)
	}
	out := make([][]sample, len(in.vecs))
	for si, vec := range in.vecs {
		for _, s := range vec {
			src := s.lbls.Get(n.Src)
			if m := re.FindStringSubmatchIndex(src); m != nil {
				res := string(re.ExpandString(nil, n.Replacement, src, m))
				lb := labels.NewBuilder(s.lbls)
				if res == "" {
					lb.Del(n.Dst)
				} else {
					lb.Set(n.Dst, res)
				}
				s.lbls = lb.Labels()
			}
			out[si] = append(out[si], s)
		}
	}
	return value{vecs: out}, nil
}
