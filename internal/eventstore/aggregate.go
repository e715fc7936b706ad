package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// HitsQuery counts matching rows per time bucket, optionally per value of
// one stream label or field.
type HitsQuery struct {
	// Query selects rows; Start and End (both required) bound the buckets.
	// Direction, Limit and Cursor are ignored.
	Query Query
	// Step is the bucket width in ns; buckets start at Query.Start.
	Step int64
	// GroupBy names a stream label or field; "" counts all rows together.
	// Rows without it are counted under "".
	GroupBy string
}

// HitsGroup is one group's counts, Counts[i] for bucket
// [Start+i*Step, Start+(i+1)*Step).
type HitsGroup struct {
	Value  string
	Counts []int64
}

// HitsResult is returned by Hits.
type HitsResult struct {
	Start, Step int64
	Groups      []HitsGroup // sorted by Value
	Stats       QueryStats
}

const maxBuckets = 1 << 20

// Hits counts rows per bucket inside the engine. Blocks lying in one bucket
// of a query without filters are counted from their headers alone; others
// are counted a block at a time without materializing rows (hitsCounter).
func (s *Store) Hits(ctx context.Context, hq HitsQuery) (res HitsResult, err error) {
	defer s.observe("hits", time.Now())
	q := hq.Query
	if q.End <= q.Start || hq.Step <= 0 {
		return res, errors.New("count hits: need Start < End and Step > 0")
	}
	n := (q.End - q.Start + hq.Step - 1) / hq.Step
	if n > maxBuckets {
		return res, fmt.Errorf("count hits: %d buckets exceed %d; use a larger step", n, maxBuckets)
	}
	res.Start, res.Step = q.Start, hq.Step
	h := &hitsCounter{start: q.Start, step: hq.Step, n: n, groupBy: hq.GroupBy, groups: map[string][]int64{}}
	if err := h.run(ctx, s, &q, &res.Stats); err != nil {
		return res, err
	}
	for v, c := range h.groups {
		res.Groups = append(res.Groups, HitsGroup{Value: v, Counts: c})
	}
	slices.SortFunc(res.Groups, func(a, b HitsGroup) int { return cmpStr(a.Value, b.Value) })
	return res, nil
}

// ValueCount is a distinct value and how many rows hold it.
type ValueCount struct {
	Value string
	Count int64
}

// FieldValues returns the distinct values of a stream label or field among
// rows matching q, most frequent first, at most limit (0 = all).
func (s *Store) FieldValues(ctx context.Context, q Query, field string, limit int) ([]ValueCount, QueryStats, error) {
	defer s.observe("field_values", time.Now())
	var st QueryStats
	counts := map[string]int64{}
	var hdr blockHeader
	var want []uint32
	whole := func(c *candidate) bool {
		if v := c.st.labels.Get(field); v != "" {
			counts[v] += int64(c.bh.rows)
			return true
		}
		want = c.part.idx.nameIndexes(want[:0], field)
		if c.part.idx.headerOf(c.bh, &hdr, want) != nil {
			return false // reading the block reports the error
		}
		for i := range hdr.cols {
			h := &hdr.cols[i]
			if h.name == field && h.enc == encConst && h.present == c.bh.rows && h.typ == ctString {
				counts[h.constStr] += int64(c.bh.rows)
				return true
			}
		}
		return false
	}
	err := s.scan(ctx, &q, &st, whole, func(x *rowRef) error {
		v, ok, err := x.field(field)
		if ok {
			counts[v]++
		}
		return err
	})
	if err != nil {
		return nil, st, err
	}
	out := make([]ValueCount, 0, len(counts))
	for v, c := range counts {
		out = append(out, ValueCount{v, c})
	}
	slices.SortFunc(out, func(a, b ValueCount) int {
		if a.Count != b.Count {
			return cmpInt(b.Count, a.Count)
		}
		return cmpStr(a.Value, b.Value)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, st, nil
}

// FieldNames returns the names of fields present in rows of streams and
// blocks matching q's tenant, time range and matchers (filters are ignored),
// read from block headers without touching column data.
func (s *Store) FieldNames(ctx context.Context, q Query) ([]string, error) {
	q.Filters = nil
	p, err := newPlan(&q)
	if err != nil {
		return nil, err
	}
	sn, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	defer sn.release()
	var st QueryStats
	cands, err := s.candidates(ctx, sn, p, &st)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	var hdr blockHeader
	for _, c := range cands {
		if c.bh != nil {
			if err := c.part.idx.header(c.bh, &hdr); err != nil {
				return nil, fmt.Errorf("list field names: %w", err)
			}
			for i := range hdr.cols {
				names[hdr.cols[i].name] = true
			}
			continue
		}
		var dec headDecoder
		for _, r := range c.rows {
			if r.t < p.start || r.t >= p.end {
				continue
			}
			e, err := dec.decode(c.st, r)
			if err != nil {
				return nil, err
			}
			for _, f := range []string{model.FieldBody, model.FieldSeverity, model.FieldTraceID, model.FieldSpanID,
				model.FieldParentSpanID, model.FieldName, model.FieldKind, model.FieldStatusCode, model.FieldStatusMessage, model.FieldDuration} {
				if _, ok := e.Field(f); ok {
					names[f] = true
				}
			}
			names[model.FieldTime] = true
			for _, a := range e.Attrs {
				names[a.Key] = true
			}
		}
	}
	return slices.Sorted(mapsKeys(names)), nil
}

// streamsIn visits streams of tenant with data in [start, end) (end 0 = no
// bound) matching ms, deduplicated by key.
func (s *Store) streamsIn(ctx context.Context, tenant string, start, end int64, ms []*labels.Matcher, fn func(*stream)) error {
	q := Query{Tenant: tenant, Start: start, End: end, Matchers: ms}
	p, err := newPlan(&q)
	if err != nil {
		return err
	}
	sn, err := s.snapshot()
	if err != nil {
		return err
	}
	defer sn.release()
	seen := map[string]bool{}
	visit := func(st *stream) {
		if !seen[st.key] {
			seen[st.key] = true
			fn(st)
		}
	}
	for _, r := range sn.parts {
		pt := r.p
		if pt.info.MaxTime < p.start || pt.info.MinTime >= p.end {
			continue
		}
		for si := range pt.streamCandidates(ms) {
			st := pt.idx.streams[si]
			if seen[st.key] || !p.streamMatches(st) {
				continue
			}
			rng := pt.idx.streamBlocks(si)
			for bi := rng[0]; bi < rng[1]; bi++ {
				bh := &pt.idx.blocks[bi]
				if bh.maxT >= p.start && bh.minT < p.end {
					visit(st)
					break
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	dmin, dmax := p.dayRange()
	for _, h := range sn.heads {
		for _, hs := range h.snapshot(dmin, dmax, p.streamMatches) {
			if slices.ContainsFunc(hs.rows, func(r headRow) bool { return r.t >= p.start && r.t < p.end }) {
				visit(hs.st)
			}
		}
	}
	return nil
}

// LabelNames returns the stream label names of tenant's streams with rows
// in [start, end) matching ms.
func (s *Store) LabelNames(ctx context.Context, tenant string, start, end int64, ms ...*labels.Matcher) ([]string, error) {
	names := map[string]bool{}
	err := s.streamsIn(ctx, tenant, start, end, ms, func(st *stream) {
		st.labels.Range(func(l labels.Label) { names[l.Name] = true })
	})
	return slices.Sorted(mapsKeys(names)), err
}

// LabelValues returns the values of stream label name among tenant's
// streams with rows in [start, end) matching ms.
func (s *Store) LabelValues(ctx context.Context, tenant string, start, end int64, name string, ms ...*labels.Matcher) ([]string, error) {
	vals := map[string]bool{}
	err := s.streamsIn(ctx, tenant, start, end, ms, func(st *stream) {
		if v := st.labels.Get(name); v != "" {
			vals[v] = true
		}
	})
	return slices.Sorted(mapsKeys(vals)), err
}

// Streams returns the label sets of tenant's streams with rows in
// [start, end) matching ms.
func (s *Store) Streams(ctx context.Context, tenant string, start, end int64, ms ...*labels.Matcher) ([]labels.Labels, error) {
	var out []labels.Labels
	err := s.streamsIn(ctx, tenant, start, end, ms, func(st *stream) { out = append(out, st.labels) })
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i], out[j]) < 0 })
	return out, err
}

// TraceByID returns every row (spans, span events and logs) of a trace,
// oldest first. start and end (Unix ns, 0 = unbounded) narrow the search
// when the caller knows roughly when the trace happened. Each part's trace
// directory names the blocks to read, so nothing else is scanned.
func (s *Store) TraceByID(ctx context.Context, tenant string, id model.TraceID, start, end int64) ([]model.Event, QueryStats, error) {
	defer s.observe("trace", time.Now())
	var st QueryStats
	if end == 0 {
		end = math.MaxInt64
	}
	sn, err := s.snapshot()
	if err != nil {
		return nil, st, err
	}
	defer sn.release()
	var out []model.Event
	idHex := id.String()
	f := &cfilter{Filter: Filter{Field: model.FieldTraceID, Op: OpEqual, Value: idHex}, id: id[:]}
	p := &plan{q: &Query{Tenant: tenant}, start: start, end: end, filters: []*cfilter{f}, allSignals: true}
	var sel []int32
	var hdr blockHeader
	var want []uint32
	for _, r := range sn.parts {
		pt := r.p
		if pt.info.MaxTime < start || pt.info.MinTime >= end {
			continue
		}
		st.PartsSearched++
		blocks, err := pt.traceBlocks(id)
		if err != nil {
			return nil, st, err
		}
		for _, bi := range blocks {
			bh := &pt.idx.blocks[bi]
			strm := pt.idx.streams[pt.idx.blockStream(bi)]
			if strm.tenant() != tenant || bh.maxT < start || bh.minT >= end {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, st, err
			}
			// The directory keys blocks by an id's first 4 bytes, which
			// are zero for every padded 64-bit id; such blocks keep a
			// trace_id bloom that tells them apart.
			want = pt.idx.nameIndexes(want[:0], model.FieldTraceID)
			if err := pt.idx.headerOf(bh, &hdr, want); err != nil {
				return nil, st, fmt.Errorf("find trace: %w", err)
			}
			if c := hdr.col(model.FieldTraceID); c != nil && c.bloomLen > 0 {
				may, _, err := f.colMayMatch(c, func() ([]byte, error) { return pt.readBloom(c) })
				if err != nil {
					return nil, st, fmt.Errorf("find trace: %w", err)
				}
				if !may {
					st.BlocksBloom++
					continue
				}
			}
			st.BlocksRead++
			s.m.blocksRead.Inc()
			lb, err := loadBlock(&candidate{st: strm, part: pt, bh: bh})
			if err != nil {
				return nil, st, fmt.Errorf("find trace: %w", err)
			}
			if sel, err = lb.filterRows(p, sel); err != nil {
				return nil, st, fmt.Errorf("find trace: %w", err)
			}
			for _, r := range sel {
				ev, err := lb.event(int(r))
				if err != nil {
					return nil, st, err
				}
				out = append(out, ev)
			}
		}
	}
	for _, h := range sn.heads {
		var n int
		if out, n, err = h.traceRows(out, tenant, id, start, end); err != nil {
			return nil, st, fmt.Errorf("find trace: %w", err)
		}
		st.HeadRows += int64(n)
	}
	st.RowsMatched = int64(len(out))
	slices.SortStableFunc(out, func(a, b model.Event) int { return cmpInt(a.Time, b.Time) })
	return out, st, nil
}
