package eventstore

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/sightline/sightline/internal/model"
)

// hitsCounter accumulates Hits counts block by block. Rows of a part block
// are counted without materializing them: the block's bucket and group are
// resolved once when they are constant over the block, a dictionary column
// is counted by code with codes mapped to groups once per block, and only
// other column encodings look a value up per row. Not safe for concurrent
// use; one counter serves one query.
type hitsCounter struct {
	start, step int64
	n           int64 // buckets
	groupBy     string
	groups      map[string][]int64
	sel         []int32
	cols        []*colData
	// stored, raw and times are the time column's buffers, reused from
	// block to block.
	stored, raw []byte
	times       []int64
	// bySlot maps a dictionary code to its group's counts for the current
	// block; slot 256 is rows without the field. Reset per block.
	bySlot [maxDictValues + 2][]int64
}

func (h *hitsCounter) group(v string) []int64 {
	g := h.groups[v]
	if g == nil {
		g = make([]int64, h.n)
		h.groups[strings.Clone(v)] = g
	}
	return g
}

// bucket returns the bucket of time t, which lies in the query's range.
func (h *hitsCounter) bucket(t int64) int64 { return (t - h.start) / h.step }

// run walks the query's candidates like scan, counting each block at once.
func (h *hitsCounter) run(ctx context.Context, s *Store, q *Query, st *QueryStats) error {
	p, cands, release, err := s.plannedCandidates(ctx, q, st)
	if err != nil {
		return err
	}
	defer release()
	for i := range cands {
		c := &cands[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.rows != nil {
			if err := h.countHead(p, c, st); err != nil {
				return fmt.Errorf("count hits: %w", err)
			}
			continue
		}
		if len(p.filters) == 0 && c.minT >= p.start && c.maxT < p.end && h.countWhole(c) {
			st.RowsMatched += int64(c.bh.rows)
			continue
		}
		st.BlocksRead++
		s.m.blocksRead.Inc()
		if err := h.countBlock(p, c, st); err != nil {
			return fmt.Errorf("count hits: %w", err)
		}
	}
	return nil
}

// countWhole counts a filterless block inside the range from its header
// when it lies in one bucket and its group is a stream label.
func (h *hitsCounter) countWhole(c *candidate) bool {
	b0, b1 := h.bucket(c.minT), h.bucket(c.maxT)
	if b0 != b1 {
		return false
	}
	v := ""
	if h.groupBy != "" {
		if !c.st.labels.Has(h.groupBy) {
			return false
		}
		v = c.st.labels.Get(h.groupBy)
	}
	h.group(v)[b0] += int64(c.bh.rows)
	return true
}

func (h *hitsCounter) countHead(p *plan, c *candidate, st *QueryStats) error {
	var fixed []int64
	if h.groupBy == "" || c.st.labels.Has(h.groupBy) {
		fixed = h.group(c.st.labels.Get(h.groupBy))
	}
	// Counting by stream label or by level needs no decoded row.
	lead := fixed == nil && h.groupBy == model.FieldSeverity
	return p.headRows(c, &st.HeadRows, fixed == nil && !lead, func(r headRow, e *model.Event) error {
		st.RowsMatched++
		g := fixed
		switch {
		case g != nil:
		case e != nil:
			g = h.group(headFieldText(e, h.groupBy))
		default:
			g = h.group(r.lead().severity)
		}
		g[h.bucket(r.t)]++
		return nil
	})
}

// headFieldText is a head row's field as text, "" when absent.
func headFieldText(e *model.Event, name string) string {
	v, ok := e.Field(name)
	if !ok {
		return ""
	}
	if name == model.FieldTraceID || name == model.FieldSpanID || name == model.FieldParentSpanID {
		return v.Str
	}
	return v.Text()
}

func (h *hitsCounter) countBlock(p *plan, c *candidate, st *QueryStats) error {
	lb, err := loadBlock(c)
	if err != nil {
		return err
	}
	bh := c.bh
	st.RowsScanned += int64(bh.rows)
	// all: every row matches, so rows need not be listed.
	all := len(p.filters) == 0 && bh.minT >= p.start && bh.maxT < p.end
	if !all {
		if h.sel, err = lb.filterRows(p, h.sel); err != nil {
			return err
		}
		if len(h.sel) == 0 {
			lb.recycle()
			return nil
		}
	}
	nrows := int(bh.rows)
	if !all {
		nrows = len(h.sel)
	}
	st.RowsMatched += int64(nrows)
	// One bucket for the whole block needs no timestamps.
	oneBucket := int64(-1)
	if bh.minT >= p.start && bh.maxT < p.end && h.bucket(bh.minT) == h.bucket(bh.maxT) {
		oneBucket = h.bucket(bh.minT)
	} else if err := h.loadTimes(lb); err != nil {
		return err
	}
	row := func(i int) int {
		if all {
			return i
		}
		return int(h.sel[i])
	}

	// A stream label (or no grouping) is one group for the block.
	if h.groupBy == "" || c.st.labels.Has(h.groupBy) {
		g := h.group(c.st.labels.Get(h.groupBy))
		if oneBucket >= 0 {
			g[oneBucket] += int64(nrows)
			return nil
		}
		for i := range nrows {
			g[h.bucket(lb.times[row(i)])]++
		}
		return nil
	}

	h.cols = h.cols[:0]
	for i := range lb.bh.cols {
		if lb.bh.cols[i].name == h.groupBy {
			cd, err := lb.col(i)
			if err != nil {
				return err
			}
			h.cols = append(h.cols, cd)
		}
	}
	if len(h.cols) <= 1 {
		return h.countColumn(lb, nrows, row, oneBucket)
	}
	// Several columns share the name (different types): the first one
	// present in a row gives its value.
	for i := range nrows {
		r := row(i)
		v := ""
		for _, cd := range h.cols {
			if cd.present(r) {
				v = cd.value(r).Text()
				break
			}
		}
		b := oneBucket
		if b < 0 {
			b = h.bucket(lb.times[r])
		}
		h.group(v)[b]++
	}
	return nil
}

const absentSlot = maxDictValues + 1

// countColumn counts rows grouped by the value of one column (none: every
// row is absent). Dictionary and constant columns map each row to a slot
// without reading its value.
func (h *hitsCounter) countColumn(lb *loadedBlock, nrows int, row func(int) int, oneBucket int64) error {
	var cd *colData
	if len(h.cols) == 1 {
		cd = h.cols[0]
	}
	// slot returns row r's slot, or -1 when its value must be read.
	var slot func(r int) int
	switch {
	case cd == nil:
		slot = func(int) int { return absentSlot }
	case cd.h.enc == encDict && cd.h.typ == ctString:
		slot = func(r int) int {
			if !cd.present(r) {
				return absentSlot
			}
			return int(cd.idx[cd.k(r)])
		}
	case cd.h.enc == encConst:
		slot = func(r int) int {
			if !cd.present(r) {
				return absentSlot
			}
			return 0
		}
	}
	if slot == nil {
		// Other encodings: one lookup per row, skipped while the value
		// repeats.
		var last string
		var lastG []int64
		for i := range nrows {
			r := row(i)
			v := ""
			if cd.present(r) {
				v = cd.value(r).Text()
			}
			if lastG == nil || v != last {
				last, lastG = v, h.group(v)
			}
			b := oneBucket
			if b < 0 {
				b = h.bucket(lb.times[r])
			}
			lastG[b]++
		}
		return nil
	}
	clear(h.bySlot[:])
	slotGroup := func(s int) []int64 {
		g := h.bySlot[s]
		if g == nil {
			switch {
			case s == absentSlot:
				g = h.group("")
			case cd.h.enc == encConst:
				g = h.group(cd.value(0).Text())
			default:
				g = h.group(cd.h.dict[s])
			}
			h.bySlot[s] = g
		}
		return g
	}
	if cd != nil && nrows == cd.rows && cd.has == nil && cd.h.enc == encDict && oneBucket < 0 {
		// The common case: every row of a dictionary column present.
		for r, code := range cd.idx {
			g := h.bySlot[code]
			if g == nil {
				g = slotGroup(int(code))
			}
			g[h.bucket(lb.times[r])]++
		}
		return nil
	}
	if oneBucket >= 0 {
		var per [maxDictValues + 2]int64
		for i := range nrows {
			per[slot(row(i))]++
		}
		for s, n := range per {
			if n != 0 {
				slotGroup(s)[oneBucket] += n
			}
		}
		return nil
	}
	for i := range nrows {
		r := row(i)
		slotGroup(slot(r))[h.bucket(lb.times[r])]++
	}
	return nil
}

// loadTimes sets lb.times, decoding a packed _time column of a part block
// into h's reused buffers; other layouts go through lb.ensureTimes. The
// checks are those of decodeColumn.
func (h *hitsCounter) loadTimes(lb *loadedBlock) error {
	ch := &lb.bh.cols[lb.timeCol]
	rows := int(lb.bh.rows)
	if lb.part == nil || ch.enc != encPacked || int(ch.present) != rows || ch.dataLen == 0 || ch.dataLen > maxColumnRaw {
		return lb.ensureTimes()
	}
	h.stored = slices.Grow(h.stored[:0], int(ch.dataLen))[:ch.dataLen]
	if _, err := lb.part.data.ReadAt(h.stored, int64(ch.dataOff)); err != nil {
		return fmt.Errorf("read column %q of part %s: %w", ch.name, lb.part.info.ID, err)
	}
	if crc32.Checksum(h.stored, castagnoli) != ch.crc {
		return fmt.Errorf("decode column %q: checksum mismatch", ch.name)
	}
	raw := h.stored
	if ch.flags&flagZstd != 0 {
		var err error
		if h.raw, err = zstdDec.DecodeAll(h.stored, h.raw[:0]); err != nil {
			return fmt.Errorf("decode column %q: %w", ch.name, err)
		}
		raw = h.raw
	}
	if uint32(len(raw)) != ch.rawLen {
		return fmt.Errorf("decode column %q: raw length %d, header says %d", ch.name, len(raw), ch.rawLen)
	}
	times, rest, err := decodeInts(h.times[:0], raw, rows)
	if err != nil {
		return fmt.Errorf("decode column %q: %w", ch.name, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("decode column %q: %d trailing bytes", ch.name, len(rest))
	}
	h.times, lb.times = times, times
	return nil
}
