package eventstore

import (
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

// head holds acknowledged rows not yet in parts. Rows are immutable once
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
	streams map[*stream]*headStream
}

type headStream struct {
	st         *stream
	rows       []*model.Event
	minT, maxT int64
}

func newHead(now time.Time) *head {
	return &head{days: map[int32]*headDay{}, created: now}
}

// insert adds decoded rows; payloadBytes is the size of the buffer they alias.
func (h *head) insert(events []model.Event, streams []*stream, payloadBytes int) {
	// Rows of a batch cycle through a few streams (services interleave): a
	// small cache by stream address, valid for one day, saves most map
	// lookups.
	var cache [headCacheSize]*headStream
	h.mu.Lock()
	var lastDay int32
	var hd *headDay
	var hs *headStream
	for i := range events {
		e := &events[i]
		d := dayOf(e.Time)
		if hd == nil || d != lastDay {
			hd = h.days[d]
			if hd == nil {
				hd = &headDay{streams: map[*stream]*headStream{}}
				h.days[d] = hd
			}
			lastDay, hs = d, nil
			cache = [headCacheSize]*headStream{}
		}
		if st := streams[i]; hs == nil || hs.st != st {
			a := uintptr(unsafe.Pointer(st))
			slot := &cache[(a>>4^a>>10)&(headCacheSize-1)]
			if hs = *slot; hs == nil || hs.st != st {
				hs = hd.streams[st]
				if hs == nil {
					hs = &headStream{st: st, minT: e.Time, maxT: e.Time}
					hd.streams[st] = hs
				}
				*slot = hs
			}
		}
		hs.rows = append(hs.rows, e)
		hs.minT, hs.maxT = min(hs.minT, e.Time), max(hs.maxT, e.Time)
	}
	h.mu.Unlock()
	// Per row: the Event struct, its pointer, and its attributes.
	h.bytes.Add(int64(payloadBytes) + int64(len(events))*int64(eventOverhead))
	h.rows.Add(int64(len(events)))
}

const eventOverhead = 230

const headCacheSize = 32

// headSnap is a stream's rows at snapshot time.
type headSnap struct {
	st         *stream
	rows       []*model.Event
	minT, maxT int64
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
		for _, hs := range hd.streams {
			if keep(hs.st) {
				out = append(out, headSnap{hs.st, hs.rows[:len(hs.rows):len(hs.rows)], hs.minT, hs.maxT})
			}
		}
	}
	return out
}

// traceRows returns the head's rows of trace id. The head is bounded by
// the flush size, so a scan (comparing 16 bytes per row) costs about a
// millisecond and saves a map insert per ingested row.
func (h *head) traceRows(id model.TraceID) []*model.Event {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*model.Event
	for _, hd := range h.days {
		for _, hs := range hd.streams {
			for _, e := range hs.rows {
				if e.TraceID == id {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// groupsByDay returns, per day, the streams sorted by key with rows sorted
// by time (stable, so equal timestamps keep arrival order). Call only on a
// frozen head.
func (h *head) groupsByDay() map[int32][]streamRows {
	out := map[int32][]streamRows{}
	for d, hd := range h.days {
		groups := make([]streamRows, 0, len(hd.streams))
		for _, hs := range hd.streams {
			rows := slices.Clone(hs.rows)
			slices.SortStableFunc(rows, func(a, b *model.Event) int { return cmpInt(a.Time, b.Time) })
			groups = append(groups, streamRows{st: hs.st, rows: rows})
		}
		slices.SortFunc(groups, func(a, b streamRows) int { return cmpStr(a.st.key, b.st.key) })
		out[d] = groups
	}
	return out
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

// replayExpansion is about how many bytes of head a byte of WAL becomes on
// replay: the segment buffer the rows alias, a 184-byte model.Event and a
// pointer per row, and 48 bytes per attribute (generator logs: 278 payload
// bytes, 5.1 attributes per row, so 2.6).
const replayExpansion = 3

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
