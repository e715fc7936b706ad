package eventstore

import (
	"fmt"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sightline/sightline/internal/model"
)

const nsPerDay = int64(24 * time.Hour)

// dayOf returns the day partition (days since the Unix epoch, UTC) of t.
func dayOf(t int64) int32 {
	d := t / nsPerDay
	if t < 0 && t%nsPerDay != 0 {
		d--
	}
	return int32(d)
}

func dayName(d int32) string {
	return time.Unix(0, int64(d)*nsPerDay).UTC().Format("20060102")
}

// head holds acknowledged rows not yet in parts. Rows stay in their WAL
// encoding (headRow): appended rows in a copy of their batch without the
// stream keys, replayed rows in the WAL segments replay read. They are
// decoded when a query or a flush reads them: a decoded row costs about
// 184 bytes plus 48 per attribute and eight pointers for the GC to trace, an
// encoded one 24 bytes beside its payload. Rows are immutable once
// inserted; slices only grow, so a snapshot of a slice header stays valid.
type head struct {
	mu   sync.RWMutex // guards days
	days map[int32]*headDay

	bytes   atomic.Int64
	rows    atomic.Int64
	created time.Time
	// seq is the last WAL sequence number whose rows are in this head; set
	// when the head is frozen for flushing.
	seq uint64
}

type headDay struct {
	streams ptrTable[headStream]
}

// find returns the head stream of st, or nil.
func (hd *headDay) find(st *stream) *headStream {
	return hd.streams.find(ptrHash(st), func(hs *headStream) bool { return hs.st == st })
}

func headStreamHash(hs *headStream) uint64 { return ptrHash(hs.st) }

// ptrHash mixes a stream's address into a hash whose low bits vary.
func ptrHash(st *stream) uint64 {
	h := uint64(uintptr(unsafe.Pointer(st)))
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

// headStream is a stream's rows in a head day. It keeps no time bounds:
// they would cost 16 bytes per active stream, and a query finds them in
// the same pass over the rows' times that splits them into chunks.
type headStream struct {
	st   *stream
	rows []headRow
}

// headRow is a row in the head: its time, for pruning and sorting without
// decoding, and its encoding after the stream key (from the time on) inside
// a payload the head keeps alive through p.
type headRow struct {
	t int64
	p *byte
	n uint32
}

func (r headRow) bytes() []byte { return unsafe.Slice(r.p, r.n) }

// decode decodes the row of stream st into e; attrs returns room for n
// attributes.
func (r headRow) decode(st *stream, e *model.Event, attrs func(n int) []model.Attr) error {
	*e = model.Event{Tenant: st.tenant(), Signal: st.signal(), Stream: st.labels}
	rd := rowReader{b: r.bytes()}
	if err := rd.fields(e, attrs); err != nil {
		return fmt.Errorf("decode head row: %w", err)
	}
	return nil
}

// lead reads the row's leading fields without decoding the rest.
func (r headRow) lead() (l rowLead) {
	rd := rowReader{b: r.bytes()}
	rd.varint()
	rd.lead(&l)
	return l
}

// headRowSize is what the head charges its memory budget per row beside the
// payload: the headRow and the spare capacity of the slices holding it.
const headRowSize = 40

// headDecoder decodes head rows for one reader, reusing one event and its
// attributes; the event it returns is valid until the next call.
type headDecoder struct {
	e     model.Event
	attrs []model.Attr
}

func (d *headDecoder) decode(st *stream, r headRow) (*model.Event, error) {
	err := r.decode(st, &d.e, func(n int) []model.Attr {
		d.attrs = slices.Grow(d.attrs[:0], n)[:n]
		return d.attrs
	})
	return &d.e, err
}

// indexBatch checks a WAL payload and appends, per row, a headRow pointing
// into payload and the row's stream. payload must stay unmodified while the
// rows live.
func indexBatch(payload []byte, sc *streamCache, rows []headRow, streams []*stream) ([]headRow, []*stream, error) {
	r := rowReader{b: payload}
	n, err := r.rowCount()
	if err != nil {
		return nil, nil, err
	}
	rows, streams = slices.Grow(rows, n), slices.Grow(streams, n)
	for range n {
		st, err := sc.read(&r)
		if err != nil {
			return nil, nil, err
		}
		start := r.off
		t, err := r.skipFields()
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, headRow{t: t, p: &payload[start], n: uint32(r.off - start)})
		streams = append(streams, st)
	}
	if err := r.end(); err != nil {
		return nil, nil, err
	}
	return rows, streams, nil
}

// detachRows copies the rows' encodings into one exact-size buffer, points
// the rows at it and returns its size. The head then holds neither the
// payload's spare capacity nor its stream keys (a key is often a sixth of a
// log row, and most of a row of a stream that logs rarely).
func detachRows(rows []headRow) int {
	n := 0
	for _, r := range rows {
		n += int(r.n)
	}
	buf := make([]byte, n)
	off := 0
	for i := range rows {
		// Every row has at least its time, so n > 0 and off < len(buf).
		b := rows[i].bytes()
		rows[i].p = &buf[off]
		off += copy(buf[off:], b)
	}
	return n
}

func newHead(now time.Time) *head {
	return &head{days: map[int32]*headDay{}, created: now}
}

// insert adds indexed rows; payloadBytes is the size of the buffers they
// alias.
func (h *head) insert(rows []headRow, streams []*stream, payloadBytes int) {
	// Rows of a batch cycle through a few streams (services interleave): a
	// small cache by stream address, valid for one day, saves most table
	// lookups.
	var cache [headCacheSize]*headStream
	h.mu.Lock()
	var lastDay int32
	var hd *headDay
	var hs *headStream
	for i, r := range rows {
		d := dayOf(r.t)
		if hd == nil || d != lastDay {
			hd = h.days[d]
			if hd == nil {
				hd = &headDay{}
				h.days[d] = hd
			}
			lastDay, hs = d, nil
			cache = [headCacheSize]*headStream{}
		}
		if st := streams[i]; hs == nil || hs.st != st {
			a := uintptr(unsafe.Pointer(st))
			slot := &cache[(a>>4^a>>10)&(headCacheSize-1)]
			if hs = *slot; hs == nil || hs.st != st {
				if hs = hd.find(st); hs == nil {
					hs = &headStream{st: st}
					hd.streams.add(ptrHash(st), hs, headStreamHash)
				}
				*slot = hs
			}
		}
		hs.rows = append(hs.rows, r)
	}
	h.mu.Unlock()
	h.bytes.Add(int64(payloadBytes) + int64(len(rows))*headRowSize)
	h.rows.Add(int64(len(rows)))
}

const headCacheSize = 32

// eachStream calls fn with every stream of the head.
func (h *head) eachStream(fn func(*stream)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, hd := range h.days {
		for hs := range hd.streams.all() {
			fn(hs.st)
		}
	}
}

// headSnap is a stream's rows at snapshot time.
type headSnap struct {
	st   *stream
	rows []headRow
}

// snapshot returns the head streams of days in [dmin, dmax] accepted by keep.
func (h *head) snapshot(dmin, dmax int32, keep func(*stream) bool) []headSnap {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []headSnap
	for d, hd := range h.days {
		if d < dmin || d > dmax {
			continue
		}
		for hs := range hd.streams.all() {
			st := hs.st
			if keep(st) {
				out = append(out, headSnap{st, hs.rows[:len(hs.rows):len(hs.rows)]})
			}
		}
	}
	return out
}

// traceRows appends the head's rows of tenant's trace id in [start, end) to
// out and returns how many it appended. The head is bounded by the flush size, so a scan (reading 16
// bytes per row) costs about a millisecond and saves a map insert per
// ingested row.
func (h *head) traceRows(out []model.Event, tenant string, id model.TraceID, start, end int64) ([]model.Event, int, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, hd := range h.days {
		for hs := range hd.streams.all() {
			st := hs.st
			if st.tenant() != tenant {
				continue
			}
			for _, r := range hs.rows {
				if r.t < start || r.t >= end || r.lead().traceID != id {
					continue
				}
				n++
				var e model.Event
				if err := r.decode(st, &e, func(n int) []model.Attr { return make([]model.Attr, n) }); err != nil {
					return out, n, err
				}
				out = append(out, e)
			}
		}
	}
	return out, n, nil
}

// headGroup is one stream's head rows sorted by time.
type headGroup struct {
	st   *stream
	rows []headRow
}

// groupsByDay returns, per day, the streams sorted by key with rows sorted
// by time (stable, so equal timestamps keep arrival order). Call only on a
// frozen head.
func (h *head) groupsByDay() map[int32][]headGroup {
	out := map[int32][]headGroup{}
	for d, hd := range h.days {
		groups := make([]headGroup, 0, hd.streams.len())
		for hs := range hd.streams.all() {
			st := hs.st
			rows := slices.Clone(hs.rows)
			slices.SortStableFunc(rows, func(a, b headRow) int { return cmpInt(a.t, b.t) })
			groups = append(groups, headGroup{st: st, rows: rows})
		}
		slices.SortFunc(groups, func(a, b headGroup) int { return cmpStr(a.st.key, b.st.key) })
		out[d] = groups
	}
	return out
}

// headSource yields the groups of one day decoded, one stream at a time.
// A stream's events and attributes are decoded into slabs reused for the
// next stream (the part writer is done with a stream's rows before it asks
// for the next), so a flush holds the decoded rows of one stream, not of
// the whole head.
func headSource(groups []headGroup) groupSource {
	var events []model.Event
	var ptrs []*model.Event
	var slab []model.Attr
	return func() (streamRows, bool, error) {
		if len(groups) == 0 {
			return streamRows{}, false, nil
		}
		g := groups[0]
		groups = groups[1:]
		n := len(g.rows)
		events = slices.Grow(events[:0], n)[:n]
		ptrs = slices.Grow(ptrs[:0], n)[:n]
		slab = slab[:0]
		alloc := func(k int) []model.Attr {
			if cap(slab)-len(slab) < k {
				// Rows decoded so far keep the old slab.
				slab = make([]model.Attr, 0, max(2*cap(slab), k, attrSlab))
			}
			start := len(slab)
			slab = slab[:start+k]
			return slab[start : start+k : start+k]
		}
		for i, r := range g.rows {
			if err := r.decode(g.st, &events[i], alloc); err != nil {
				return streamRows{}, false, err
			}
			ptrs[i] = &events[i]
		}
		return streamRows{st: g.st, rows: ptrs}, true, nil
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// replayHeadBytes is about how many bytes of head walBytes of WAL become on
// replay: the segment buffers the rows alias and a headRow per row, with
// the spare capacity of the slices holding them (generator logs: 278
// payload bytes per row, so 1.13).
func replayHeadBytes(walBytes int64) int64 { return walBytes + walBytes/5 }

// replayGC is the state of replayHeadroom, shared by concurrent replays.
var replayGC struct {
	mu     sync.Mutex // guards the fields below
	active int        // replays under way
	saved  int        // GC percent before the first of them
	pct    int        // GC percent in effect while they run
}

// replayHeadroom lets a WAL replay expected to allocate about extra bytes
// of rows run without garbage collections, and returns the function that
// undoes it. Everything a replay allocates stays in the head until the next
// flush, so a collection during it frees nothing of it but marks the whole
// head built so far (each one rescans every row's pointers and turns on the
// write barrier for every string the decoder stores); at GOGC=100 a replay
// into a small heap triggers one per doubling. The heap may grow by extra
// (beyond what it holds now) before the next collection, which is no more
// than the default policy allows once the rows are in (twice the live heap). A GOMEMLIMIT still
// applies. The GC percent is process-wide: it is raised, never lowered,
// the value before the first of concurrent replays is restored after the
// last, and nothing changes when the GC is off.
func replayHeadroom(extra int64) (restore func()) {
	s := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	cur, live, inUse := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	const maxPct = 1 << 20
	if extra <= 0 || cur > maxPct {
		return func() {}
	}
	// The runtime collects when the heap (live and garbage since the last
	// collection) reaches live×(1+pct/100), with at least 4 MiB of live.
	live = max(live, 4<<20)
	want := min(100*(max(inUse, live)+uint64(extra)-live)/live, maxPct)
	replayGC.mu.Lock()
	defer replayGC.mu.Unlock()
	if replayGC.active == 0 {
		replayGC.saved, replayGC.pct = int(cur), int(cur)
	}
	replayGC.active++
	if int(want) > replayGC.pct {
		replayGC.pct = int(want)
		debug.SetGCPercent(replayGC.pct)
	}
	return func() {
		replayGC.mu.Lock()
		defer replayGC.mu.Unlock()
		if replayGC.active--; replayGC.active == 0 && replayGC.pct != replayGC.saved {
			debug.SetGCPercent(replayGC.saved)
			replayGC.pct = replayGC.saved
		}
	}
}
