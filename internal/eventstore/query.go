package eventstore

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// Direction orders query results.
type Direction uint8

// Directions. The zero value is Backward: newest rows first.
const (
	Backward Direction = 0
	Forward  Direction = 1
)

// Query selects rows: tenant, signals, a time range, stream label matchers
// and field filters (all ANDed).
type Query struct {
	Tenant string
	// Signals restricts the row kinds; empty means all.
	Signals []model.Signal
	// Start and End bound the time range [Start, End) in Unix ns; End 0
	// means no upper bound.
	Start, End int64
	// Matchers select streams by their labels (=, !=, =~, !~).
	Matchers []*labels.Matcher
	Filters  []Filter
	// Direction, Limit (0 = no limit) and Cursor (from a previous result)
	// apply to Query only.
	Direction Direction
	Limit     int
	Cursor    string
}

// QueryResult is returned by Query.
type QueryResult struct {
	// Cursor resumes after the last row delivered when the query stopped
	// early (limit reached or callback returned false); empty when done.
	Cursor string
	Stats  QueryStats
}

type snapshot struct {
	heads []*head
	parts []*partRef
}

func (s *Store) snapshot() (*snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	sn := &snapshot{heads: append([]*head{s.head}, s.flushing...), parts: slices.Clone(s.parts)}
	for _, r := range sn.parts {
		r.acquire()
	}
	return sn, nil
}

func (sn *snapshot) release() {
	for _, r := range sn.parts {
		r.release()
	}
}

// plan is a query prepared for execution.
type plan struct {
	q          *Query
	start, end int64 // inclusive start, exclusive end
	filters    []*cfilter
	signals    [8]bool
	allSignals bool
	// headLits are literals every matching row's body contains; a head row
	// whose encoding lacks one is rejected without decoding it.
	headLits []litSearcher
}

func newPlan(q *Query) (*plan, error) {
	p := &plan{q: q, start: q.Start, end: q.End}
	if p.end == 0 {
		p.end = math.MaxInt64
	}
	var err error
	if p.filters, err = compileFilters(q.Filters); err != nil {
		return nil, err
	}
	for _, f := range p.filters {
		// The body is stored verbatim in a head row's encoding (other
		// fields may be binary), and a folded literal would need lowering.
		if f.Field == model.FieldBody && !f.Not && f.lit != "" && !f.litFold {
			p.headLits = append(p.headLits, newLitSearcher(f.lit, false))
		}
	}
	p.allSignals = len(q.Signals) == 0
	for _, sg := range q.Signals {
		if sg.Valid() {
			p.signals[sg] = true
		}
	}
	return p, nil
}

func (p *plan) streamMatches(st *stream) bool {
	if st.tenant() != p.q.Tenant || (!p.allSignals && !p.signals[st.signal()]) {
		return false
	}
	for _, m := range p.q.Matchers {
		if !m.Matches(st.labels.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (p *plan) dayRange() (int32, int32) {
	return dayOf(p.start), dayOf(min(p.end-1, math.MaxInt64-1))
}

// candidate is a unit of work: a part block or a head stream.
type candidate struct {
	st         *stream
	minT, maxT int64
	part       *part
	bh         *blockRef // in part
	rows       []headRow // head rows
}

// headRows visits the rows of head candidate c that lie in the plan's time
// range and pass every filter (blocks are checked by filterRows instead),
// and stops at fn's first error. fn gets the row decoded, valid until it
// returns, except that without filters and with decode false nothing is
// decoded and it gets nil. scanned counts the rows looked at.
func (p *plan) headRows(c *candidate, scanned *int64, decode bool, fn func(r headRow, e *model.Event) error) error {
	var dec headDecoder
	for _, r := range c.rows {
		*scanned++
		if r.t < p.start || r.t >= p.end {
			continue
		}
		var e *model.Event
		if decode || len(p.filters) > 0 {
			if !p.headLitsIn(r.bytes()) {
				continue
			}
			var err error
			if e, err = dec.decode(c.st, r); err != nil {
				return err
			}
			if !p.matchesEvent(e) {
				continue
			}
		}
		if err := fn(r, e); err != nil {
			return err
		}
	}
	return nil
}

// headLitsIn reports whether a head row's encoding holds every literal of
// p.headLits.
func (p *plan) headLitsIn(b []byte) bool {
	for i := range p.headLits {
		if p.headLits[i].index(b, 0) < 0 {
			return false
		}
	}
	return true
}

// matchesEvent reports whether a decoded row passes every filter.
func (p *plan) matchesEvent(e *model.Event) bool {
	for _, f := range p.filters {
		if !f.matchEvent(e) {
			return false
		}
	}
	return true
}

// plannedCandidates plans q and lists its candidate blocks over a fresh
// snapshot, which the caller releases (release) once done with them.
func (s *Store) plannedCandidates(ctx context.Context, q *Query, st *QueryStats) (p *plan, cands []candidate, release func(), err error) {
	if p, err = newPlan(q); err != nil {
		return nil, nil, nil, err
	}
	sn, err := s.snapshot()
	if err != nil {
		return nil, nil, nil, err
	}
	if cands, err = s.candidates(ctx, sn, p, st); err != nil {
		sn.release()
		return nil, nil, nil, err
	}
	return p, cands, sn.release, nil
}

// candidates plans the query down to blocks: partitions and parts by time,
// streams by matchers, blocks by time, column headers and blooms.
func (s *Store) candidates(ctx context.Context, sn *snapshot, p *plan, st *QueryStats) ([]candidate, error) {
	var out []candidate
	dmin, dmax := p.dayRange()
	days := map[string]bool{}
	var dir traceDirLookup
	// Column headers are decoded (into hdr, reused) only for blocks in the
	// time range, only when a filter can exclude a block by them, and only
	// those of the filters' fields (want: their indexes in a part's names).
	var hdr blockHeader
	var fields []string
	for _, f := range p.filters {
		if !f.Not && !f.matchAbsent() {
			fields = append(fields, f.Field)
		}
	}
	var want []uint32
	// Skips are counted here and added to the metrics once: a labelled
	// counter lookup per skipped block was a tenth of the planner's time.
	var skipTime, skipHeader, skipBloom int
	defer func() {
		for _, c := range []struct {
			reason string
			n      int
		}{{"time", skipTime}, {"header", skipHeader}, {"bloom", skipBloom}} {
			if c.n > 0 {
				s.m.blocksSkipped.WithLabelValues(c.reason).Add(float64(c.n))
			}
		}
	}()
	for _, r := range sn.parts {
		pt := r.p
		if pt.info.MaxTime < p.start || pt.info.MinTime >= p.end {
			continue
		}
		st.PartsSearched++
		days[pt.info.Day] = true
		want = pt.idx.nameIndexes(want[:0], fields...)
		for si := range pt.streamCandidates(p.q.Matchers) {
			strm := pt.idx.streams[si]
			if !p.streamMatches(strm) {
				continue
			}
			rng := pt.idx.streamBlocks(si)
			if dir.pt != pt {
				dir = traceDirLookup{pt: pt}
			}
			for bi := rng[0]; bi < rng[1]; bi++ {
				bh := &pt.idx.blocks[bi]
				st.BlocksTotal++
				if bh.maxT < p.start || bh.minT >= p.end {
					st.BlocksPruned++
					skipTime++
					continue
				}
				ok, bloomSkip := true, false
				if len(fields) > 0 {
					if err := pt.idx.headerOf(bh, &hdr, want); err != nil {
						return nil, fmt.Errorf("read block of part %s: %w", pt.info.ID, err)
					}
					var err error
					if ok, bloomSkip, err = s.blockMayMatch(pt, bi, &hdr, p.filters, &dir); err != nil {
						return nil, err
					}
				}
				if !ok {
					if bloomSkip {
						st.BlocksBloom++
						skipBloom++
					} else {
						st.BlocksPruned++
						skipHeader++
					}
					continue
				}
				out = append(out, candidate{st: strm, minT: bh.minT, maxT: bh.maxT, part: pt, bh: bh})
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	st.Partitions = len(days)
	for _, h := range sn.heads {
		for _, hs := range h.snapshot(dmin, dmax, p.streamMatches) {
			// Rows arrive roughly in time order: chunks with their own time
			// bounds let an ordered query with a limit stop early.
			for i := 0; i < len(hs.rows); i += headChunkRows {
				rows := hs.rows[i:min(i+headChunkRows, len(hs.rows))]
				lo, hi := rows[0].t, rows[0].t
				for _, r := range rows {
					lo, hi = min(lo, r.t), max(hi, r.t)
				}
				if hi < p.start || lo >= p.end {
					continue
				}
				out = append(out, candidate{st: hs.st, minT: lo, maxT: hi, rows: rows})
			}
		}
	}
	return out, nil
}

const headChunkRows = 4096

// streamCandidates yields the indexes of streams that may match ms, using
// label postings where the matchers allow.
func (pt *part) streamCandidates(ms []*labels.Matcher) func(func(int) bool) {
	return func(yield func(int) bool) {
		if ids := pt.matchingStreams(ms); ids != nil {
			for _, i := range ids {
				if !yield(int(i)) {
					return
				}
			}
			return
		}
		for i := range pt.idx.streams {
			if !yield(i) {
				return
			}
		}
	}
}

// traceDirLookup caches, for one part, the blocks its trace directory lists
// for each trace id filter.
type traceDirLookup struct {
	pt     *part
	blocks map[*cfilter][]uint32
}

// has reports whether the part's trace directory lists block bi for the
// trace id of f (f.id, 16 bytes).
func (d *traceDirLookup) has(f *cfilter, bi uint32) (bool, error) {
	bs, ok := d.blocks[f]
	if !ok {
		var err error
		if bs, err = d.pt.traceBlocks(model.TraceID(f.id)); err != nil {
			return false, err
		}
		slices.Sort(bs)
		if d.blocks == nil {
			d.blocks = map[*cfilter][]uint32{}
		}
		d.blocks[f] = bs
	}
	_, found := slices.BinarySearch(bs, bi)
	return found, nil
}

// blockMayMatch applies every filter to the block's column headers and
// blooms. bloomSkip says the block was excluded by a bloom filter (or the
// trace directory, which stands in for trace_id columns' filters).
func (s *Store) blockMayMatch(pt *part, bi uint32, bh *blockHeader, filters []*cfilter, dir *traceDirLookup) (ok, bloomSkip bool, err error) {
	for _, f := range filters {
		if f.Not || f.matchAbsent() {
			continue
		}
		may := false
		usedBloom := false
		for i := range bh.cols {
			c := &bh.cols[i]
			if c.name != f.Field {
				continue
			}
			var m, ub bool
			var err error
			if c.typ == ctID && c.name == model.FieldTraceID && c.enc == encPlain && c.bloomLen == 0 &&
				f.Op == OpEqual && len(f.id) == len(model.TraceID{}) && int(c.width) == len(f.id) {
				// Trace id columns have no bloom: the part's trace directory
				// lists every block holding each trace id.
				m, err = dir.has(f, bi)
				ub = true
			} else {
				m, ub, err = f.colMayMatch(c, func() ([]byte, error) { return pt.readBloom(c) })
			}
			if err != nil {
				return false, false, err
			}
			if ub {
				usedBloom = true
				if m {
					s.m.bloomChecks.WithLabelValues("hit").Inc()
				} else {
					s.m.bloomChecks.WithLabelValues("skip").Inc()
				}
			}
			if m {
				may = true
				break
			}
		}
		if !may {
			return false, usedBloom, nil
		}
	}
	return true, false, nil
}

// loadedBlock is a part block whose columns are read and decoded on demand,
// so a query touches only the columns it filters on or returns.
type loadedBlock struct {
	st    *stream
	bh    *blockHeader // hdr, for part blocks
	part  *part        // columns are read from part's data.bin ...
	buf   []byte       // ... or, when part is nil, sliced from buf (tests)
	base  uint64
	cols  []*colData
	times []int64 // nil until ensureTimes
	// timeCol is the index of the _time column.
	timeCol int
	// scratch is reused by case-insensitive literal prefilters.
	scratch []byte
	hdr     blockHeader
	// pooled are the decompressed buffers of big columns, which recycle
	// returns to rawPool.
	pooled [][]byte
}

// rawPool holds buffers big columns are decompressed into. Most blocks a
// search reads have no matching row; their buffers are reused by the next
// block instead of being allocated, zeroed and collected again.
var rawPool sync.Pool

// pooledColumnMin is the raw size from which a column's buffer is pooled.
const pooledColumnMin = 32 << 10

// recycle returns the block's pooled buffers for reuse. Call it only when no
// value of the block can be referenced any more: no row of it was emitted
// or kept. The block must not be used afterwards.
func (lb *loadedBlock) recycle() {
	for i := range lb.pooled {
		b := lb.pooled[i][:0]
		rawPool.Put(&b)
	}
	lb.pooled, lb.cols, lb.times = nil, nil, nil
}

func loadBlock(c *candidate) (*loadedBlock, error) {
	lb := &loadedBlock{st: c.st, part: c.part}
	if err := c.part.idx.header(c.bh, &lb.hdr); err != nil {
		return nil, fmt.Errorf("read block of part %s: %w", c.part.info.ID, err)
	}
	lb.bh = &lb.hdr
	lb.cols = make([]*colData, len(lb.bh.cols))
	tc := -1
	for i := range lb.bh.cols {
		if lb.bh.cols[i].name == model.FieldTime && lb.bh.cols[i].typ == ctInt {
			tc = i
		}
	}
	if tc < 0 {
		return nil, fmt.Errorf("read block of part %s: no %s column", c.part.info.ID, model.FieldTime)
	}
	lb.timeCol = tc
	return lb, nil
}

// ensureTimes decodes the block's timestamps (only when a query needs them).
func (lb *loadedBlock) ensureTimes() error {
	if lb.times != nil {
		return nil
	}
	cd, err := lb.col(lb.timeCol)
	if err != nil {
		return err
	}
	lb.times = cd.timesPerRow()
	return nil
}

func (lb *loadedBlock) col(i int) (*colData, error) {
	if lb.cols[i] != nil {
		return lb.cols[i], nil
	}
	h := &lb.bh.cols[i]
	var raw []byte
	var err error
	if lb.part != nil {
		raw, err = lb.part.readColumn(h)
	} else {
		raw, err = columnBytes(lb.buf, lb.base, h)
	}
	if err != nil {
		return nil, err
	}
	var dst []byte
	pool := h.flags&flagZstd != 0 && h.rawLen >= pooledColumnMin
	if pool {
		if b, ok := rawPool.Get().(*[]byte); ok {
			dst = *b
		}
	}
	cd, buf, err := decodeColumn(h, int(lb.bh.rows), raw, dst)
	if err != nil {
		if dst != nil {
			rawPool.Put(&dst)
		}
		return nil, err
	}
	if pool {
		lb.pooled = append(lb.pooled, buf)
	}
	lb.cols[i] = cd
	return cd, nil
}

// filterRows returns the rows of lb in [start, end) matching every filter.
func (lb *loadedBlock) filterRows(p *plan, sel []int32) ([]int32, error) {
	sel = sel[:0]
	if lb.bh.minT >= p.start && lb.bh.maxT < p.end {
		for r := range int32(lb.bh.rows) {
			sel = append(sel, r)
		}
	} else {
		if err := lb.ensureTimes(); err != nil {
			return nil, err
		}
		for r, t := range lb.times {
			if t >= p.start && t < p.end {
				sel = append(sel, int32(r))
			}
		}
	}
	for _, f := range p.filters {
		if len(sel) == 0 {
			break
		}
		var cols []*colData
		for i := range lb.bh.cols {
			if lb.bh.cols[i].name == f.Field {
				cd, err := lb.col(i)
				if err != nil {
					return nil, err
				}
				cols = append(cols, cd)
			}
		}
		// Plain string columns are screened for the filter's literal in one
		// pass over their data; values without it cannot match.
		var hits [][]uint64
		if f.lit != "" {
			hits = make([][]uint64, len(cols))
			for i, c := range cols {
				if c.h.typ == ctString && c.h.enc == encPlain {
					hits[i] = make([]uint64, (len(c.off)+63)/64)
					lb.scratch = c.litHits(f, hits[i], lb.scratch)
				}
			}
		}
		out := sel[:0]
		for _, r := range sel {
			m, found := false, false
			for i, c := range cols {
				if !c.present(int(r)) {
					continue
				}
				found = true
				switch c.h.typ {
				case ctString:
					if hits != nil && hits[i] != nil {
						k := c.k(int(r))
						if hits[i][k>>6]&(1<<(k&63)) == 0 {
							m = false
						} else {
							m = f.litExact || c.matchString(f, int(r))
						}
						break
					}
					m = c.matchString(f, int(r))
				case ctID:
					m = f.matchID(c.id(int(r)))
				default:
					m = f.matchValue(model.Value{Type: model.ValueType(c.h.typ), Num: uint64(c.num(int(r)))})
				}
				break
			}
			if !found {
				m = f.matchAbsent()
			}
			if m != f.Not {
				out = append(out, r)
			}
		}
		sel = out
	}
	return sel, nil
}

// event materializes row r.
func (lb *loadedBlock) event(r int) (model.Event, error) {
	if err := lb.ensureTimes(); err != nil {
		return model.Event{}, err
	}
	e := model.Event{Tenant: lb.st.tenant(), Signal: lb.st.signal(), Stream: lb.st.labels, Time: lb.times[r]}
	nattrs := 0
	for i := range lb.bh.cols {
		if !model.IsIntrinsic(lb.bh.cols[i].name) {
			nattrs++
		}
	}
	if nattrs > 0 {
		e.Attrs = make([]model.Attr, 0, nattrs)
	}
	for i := range lb.bh.cols {
		h := &lb.bh.cols[i]
		if h.name == model.FieldTime {
			continue
		}
		c, err := lb.col(i)
		if err != nil {
			return e, err
		}
		if !c.present(r) {
			continue
		}
		if !model.IsIntrinsic(h.name) || h.typ != intrinsicType(h.name) {
			e.Attrs = append(e.Attrs, model.Attr{Key: h.name, Value: c.value(r)})
			continue
		}
		switch h.name {
		case model.FieldBody:
			e.Body = c.str(r)
		case model.FieldSeverity:
			e.Severity = c.str(r)
		case model.FieldName:
			e.Name = c.str(r)
		case model.FieldStatusMessage:
			e.StatusMessage = c.str(r)
		case model.FieldKind:
			e.Kind = model.SpanKind(c.num(r))
		case model.FieldStatusCode:
			e.StatusCode = model.StatusCode(c.num(r))
		case model.FieldDuration:
			e.Duration = c.num(r)
		case model.FieldTraceID:
			copy(e.TraceID[:], c.id(r))
		case model.FieldSpanID:
			copy(e.SpanID[:], c.id(r))
		case model.FieldParentSpanID:
			copy(e.ParentSpanID[:], c.id(r))
		}
	}
	return e, nil
}

// intrinsicType is the column type an intrinsic field is stored as.
func intrinsicType(name string) colType {
	switch name {
	case model.FieldBody, model.FieldSeverity, model.FieldName, model.FieldStatusMessage:
		return ctString
	case model.FieldTraceID, model.FieldSpanID, model.FieldParentSpanID:
		return ctID
	}
	return ctInt
}

// ----------------------------------------------------------- ordered query

type item struct {
	t  int64
	tb uint64
	ev *model.Event // a block's row
	lb *loadedBlock
	r  int32
	// A head row, decoded only if emitted.
	hst *stream
	hr  headRow
}

// limitBound returns the time of the limit-th row in result order among
// times (newest first when back), which it reorders, and whether there are
// more rows than limit. Rows past the bound cannot be among the first limit
// emitted; rows at it may be (ties), so inBound keeps them.
func limitBound(times []int64, limit int, back bool) (int64, bool) {
	if limit <= 0 || len(times) <= limit {
		return 0, false
	}
	k := limit - 1
	if back {
		k = len(times) - limit
	}
	return nthSmallest(times, k), true
}

func inBound(t, bound int64, back bool) bool {
	if back {
		return t >= bound
	}
	return t <= bound
}

// nthSmallest returns the k-th smallest of a (0-based), reordering a
// (quickselect with a median-of-three pivot: head rows arrive mostly
// sorted by time, where a first-element pivot would be quadratic).
func nthSmallest(a []int64, k int) int64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// tiebreak orders rows with equal timestamps the same way wherever they are
// stored (head or any part), which makes cursors stable. h is reused.
func tiebreak(h *xxhash.Digest, st *stream, body string, span model.SpanID, name string) uint64 {
	h.Reset()
	h.WriteString(st.key)
	h.WriteString(body)
	h.Write(span[:])
	h.WriteString(name)
	return h.Sum64()
}

type itemHeap struct {
	items []item
	back  bool
}

func (h *itemHeap) Len() int { return len(h.items) }
func (h *itemHeap) Less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	if h.back {
		return a.t > b.t || a.t == b.t && a.tb > b.tb
	}
	return a.t < b.t || a.t == b.t && a.tb < b.tb
}
func (h *itemHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *itemHeap) Push(x any)    { h.items = append(h.items, x.(item)) }
func (h *itemHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}

func encodeCursor(t int64, tb uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(t))
	binary.BigEndian.PutUint64(b[8:], tb)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (int64, uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return 0, 0, errors.New("decode query cursor: malformed")
	}
	return int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint64(b[8:]), nil
}

// Query streams matching rows to fn in time order (newest first unless
// Forward), stopping at q.Limit rows or when fn returns false. fn may keep
// the event. Blocks are read only when the planner cannot exclude them.
func (s *Store) Query(ctx context.Context, q Query, fn func(*model.Event) bool) (res QueryResult, err error) {
	defer s.observe("query", time.Now())
	p, err := newPlan(&q)
	if err != nil {
		return res, err
	}
	back := q.Direction == Backward
	var curT int64
	var curTB uint64
	hasCur := q.Cursor != ""
	if hasCur {
		if curT, curTB, err = decodeCursor(q.Cursor); err != nil {
			return res, err
		}
		if back {
			p.end = min(p.end, curT+1)
		} else {
			p.start = max(p.start, curT)
		}
	}
	after := func(t int64, tb uint64) bool { // strictly after the cursor in result order
		if !hasCur {
			return true
		}
		if back {
			return t < curT || t == curT && tb < curTB
		}
		return t > curT || t == curT && tb > curTB
	}
	sn, err := s.snapshot()
	if err != nil {
		return res, err
	}
	defer sn.release()
	cands, err := s.candidates(ctx, sn, p, &res.Stats)
	if err != nil {
		return res, err
	}
	if back {
		slices.SortFunc(cands, func(a, b candidate) int { return cmpInt(b.maxT, a.maxT) })
	} else {
		slices.SortFunc(cands, func(a, b candidate) int { return cmpInt(a.minT, b.minT) })
	}
	h := &itemHeap{back: back}
	dig := xxhash.New()
	var sel []int32
	headTB := func(st *stream, r headRow, e *model.Event) uint64 {
		if e != nil {
			return tiebreak(dig, st, e.Body, e.SpanID, e.Name)
		}
		l := r.lead()
		return tiebreak(dig, st, l.body, l.spanID, l.name)
	}
	// With a limit, only a candidate's q.Limit first rows in result order
	// can be emitted (they all come before its others), so the rest are
	// neither hashed nor decoded nor heaped: a newest-100 query over a
	// large head or block orders 100 rows per candidate, not all of them.
	var (
		hits  []headRow
		times []int64
		// cut: rows were left out by a limit, so reaching the limit
		// leaves more to page through.
		cut bool
	)
	load := func(c *candidate) error {
		if c.rows != nil {
			if q.Limit == 0 {
				return p.headRows(c, &res.Stats.HeadRows, false, func(r headRow, e *model.Event) error {
					if tb := headTB(c.st, r, e); after(r.t, tb) {
						res.Stats.RowsMatched++
						heap.Push(h, item{t: r.t, tb: tb, hst: c.st, hr: r})
					}
					return nil
				})
			}
			hits, times = hits[:0], times[:0]
			if err := p.headRows(c, &res.Stats.HeadRows, false, func(r headRow, e *model.Event) error {
				// Only rows at the cursor's time need their tiebreak to
				// tell whether they come after it.
				if hasCur && r.t == curT && !after(r.t, headTB(c.st, r, e)) {
					return nil
				}
				hits, times = append(hits, r), append(times, r.t)
				return nil
			}); err != nil {
				return err
			}
			res.Stats.RowsMatched += int64(len(hits))
			bound, bounded := limitBound(times, q.Limit, back)
			cut = cut || bounded
			for _, r := range hits {
				if !bounded || inBound(r.t, bound, back) {
					heap.Push(h, item{t: r.t, tb: headTB(c.st, r, nil), hst: c.st, hr: r})
				}
			}
			return nil
		}
		res.Stats.BlocksRead++
		s.m.blocksRead.Inc()
		lb, err := loadBlock(c)
		if err != nil {
			return err
		}
		res.Stats.RowsScanned += int64(lb.bh.rows)
		sel, err = lb.filterRows(p, sel)
		if err != nil {
			return err
		}
		if len(sel) == 0 {
			lb.recycle()
			return nil
		}
		if q.Limit > 0 && len(sel) > q.Limit {
			if err := lb.ensureTimes(); err != nil {
				return err
			}
			times = times[:0]
			keep := sel[:0]
			for _, r := range sel {
				t := lb.times[r]
				if hasCur && t == curT {
					ev, err := lb.event(int(r))
					if err != nil {
						return err
					}
					if !after(t, tiebreak(dig, c.st, ev.Body, ev.SpanID, ev.Name)) {
						continue
					}
				}
				keep, times = append(keep, r), append(times, t)
			}
			sel = keep
			if len(sel) == 0 {
				lb.recycle()
				return nil
			}
			if bound, bounded := limitBound(times, q.Limit, back); bounded {
				cut = true
				// Rows left out matched too; the loop below counts the rest.
				sel = slices.DeleteFunc(sel, func(r int32) bool { return !inBound(lb.times[r], bound, back) })
				res.Stats.RowsMatched += int64(len(keep) - len(sel))
			}
		}
		for _, r := range sel {
			ev, err := lb.event(int(r))
			if err != nil {
				return err
			}
			tb := tiebreak(dig, c.st, ev.Body, ev.SpanID, ev.Name)
			if after(ev.Time, tb) {
				res.Stats.RowsMatched++
				heap.Push(h, item{t: ev.Time, tb: tb, ev: &ev})
			}
		}
		return nil
	}
	emitted := 0
	next := 0
	for {
		for next < len(cands) && (h.Len() == 0 || (back && cands[next].maxT >= h.items[0].t) || (!back && cands[next].minT <= h.items[0].t)) {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if err := load(&cands[next]); err != nil {
				return res, fmt.Errorf("query events: %w", err)
			}
			next++
		}
		if h.Len() == 0 {
			return res, nil
		}
		it := heap.Pop(h).(item)
		emitted++
		if it.hst != nil {
			// A fresh event: the caller may keep it, as it may keep a
			// block's rows.
			it.ev = new(model.Event)
			if err := it.hr.decode(it.hst, it.ev, func(n int) []model.Attr { return make([]model.Attr, n) }); err != nil {
				return res, fmt.Errorf("query events: %w", err)
			}
		}
		more := fn(it.ev)
		if !more || (q.Limit > 0 && emitted >= q.Limit) {
			if h.Len() > 0 || next < len(cands) || !more || cut {
				res.Cursor = encodeCursor(it.t, it.tb)
			}
			return res, nil
		}
	}
}

func (s *Store) observe(kind string, start time.Time) {
	s.m.queryDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// ------------------------------------------------------------ unordered scan

// rowRef is one matching row seen by scan.
type rowRef struct {
	st *stream
	ev *model.Event // head row, or nil
	lb *loadedBlock
	r  int
}

func (x *rowRef) time() (int64, error) {
	if x.ev != nil {
		return x.ev.Time, nil
	}
	if err := x.lb.ensureTimes(); err != nil {
		return 0, err
	}
	return x.lb.times[x.r], nil
}

func (x *rowRef) blockHeader() *blockHeader {
	if x.lb == nil {
		return nil
	}
	return x.lb.bh
}

// field returns the text of a stream label (preferred) or field.
func (x *rowRef) field(name string) (string, bool, error) {
	if v := x.st.labels.Get(name); v != "" {
		return v, true, nil
	}
	if x.ev != nil {
		v, ok := x.ev.Field(name)
		if !ok {
			return "", false, nil
		}
		if name == model.FieldTraceID || name == model.FieldSpanID || name == model.FieldParentSpanID {
			return v.Str, true, nil
		}
		return v.Text(), true, nil
	}
	for i := range x.lb.bh.cols {
		if x.lb.bh.cols[i].name != name {
			continue
		}
		c, err := x.lb.col(i)
		if err != nil {
			return "", false, err
		}
		if c.present(x.r) {
			return c.value(x.r).Text(), true, nil
		}
	}
	return "", false, nil
}

// scan calls fn for every matching row in no particular order. whole, when
// not nil, is offered blocks entirely inside the range of a query without
// filters; returning true counts the block as consumed without reading it.
func (s *Store) scan(ctx context.Context, q *Query, st *QueryStats, whole func(c *candidate) bool, fn func(x *rowRef) error) error {
	p, cands, release, err := s.plannedCandidates(ctx, q, st)
	if err != nil {
		return err
	}
	defer release()
	var sel []int32
	for i := range cands {
		c := &cands[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.rows != nil {
			if err := p.headRows(c, &st.HeadRows, true, func(_ headRow, e *model.Event) error {
				st.RowsMatched++
				return fn(&rowRef{st: c.st, ev: e})
			}); err != nil {
				return err
			}
			continue
		}
		if whole != nil && len(p.filters) == 0 && c.minT >= p.start && c.maxT < p.end && whole(c) {
			st.RowsMatched += int64(c.bh.rows)
			continue
		}
		st.BlocksRead++
		s.m.blocksRead.Inc()
		lb, err := loadBlock(c)
		if err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		st.RowsScanned += int64(lb.bh.rows)
		if sel, err = lb.filterRows(p, sel); err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		if len(sel) == 0 {
			lb.recycle()
			continue
		}
		for _, r := range sel {
			st.RowsMatched++
			if err := fn(&rowRef{st: c.st, lb: lb, r: int(r)}); err != nil {
				return err
			}
		}
	}
	return nil
}
