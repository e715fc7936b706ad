package eventstore

import (
	"fmt"
	"reflect"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// replayRows makes rows over many streams (more than the decoder's and the
// head's caches hold, so slots collide), of every signal, over two days,
// with empty and non-empty optional fields and every attribute type.
func replayRows(n, streams int) []model.Event {
	rows := make([]model.Event, n)
	for i := range rows {
		k := (i*7919 + i/3) % streams
		e := model.Event{
			Tenant: fmt.Sprintf("tenant-%d", k%3),
			Signal: model.Signal(1 + k%3),
			Stream: labels.FromStrings("service", fmt.Sprintf("svc-%d", k), "env", "prod"),
			Time:   baseTime.Add(time.Duration(i) * 37 * time.Second).UnixNano(),
		}
		if i%4 != 0 {
			e.Body = fmt.Sprintf("row %d body", i)
		}
		if i%3 == 0 {
			e.Severity = "warn"
		}
		if e.Signal != model.SignalLog {
			e.TraceID = model.TraceID{byte(i), 1}
			e.SpanID = model.SpanID{byte(i), 2}
			if i%2 == 0 {
				e.ParentSpanID = model.SpanID{3}
			}
			e.Name = "op"
			e.Kind = model.SpanKind(i % 5)
			e.StatusCode = model.StatusCode(i % 3)
			if i%5 == 0 {
				e.StatusMessage = "failed"
			}
			e.Duration = int64(i) * 1000
		}
		for j := range i % 7 {
			var v model.Value
			switch j % 4 {
			case 0:
				v = model.StringValue(fmt.Sprintf("v%d", i))
			case 1:
				v = model.IntValue(int64(-i))
			case 2:
				v = model.FloatValue(float64(i) / 3)
			case 3:
				v = model.BoolValue(i%2 == 0)
			}
			if j == 4 {
				v = model.StringValue("")
			}
			e.Attrs = append(e.Attrs, model.Attr{Key: fmt.Sprintf("k%d", j), Value: v})
		}
		rows[i] = e
	}
	return rows
}

// decodeHeadRows decodes indexed head rows into events.
func decodeHeadRows(t testing.TB, rows []headRow, sts []*stream) []model.Event {
	out := make([]model.Event, len(rows))
	for i, r := range rows {
		if err := r.decode(sts[i], &out[i], func(n int) []model.Attr { return make([]model.Attr, n) }); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	return out
}

// Rows indexed with one stream cache across payloads, as replay indexes
// them, decode to the same rows and streams as independent decodeBatch
// calls, and rows of earlier payloads are not disturbed by later ones.
func TestIndexedRowsMatchDecodeBatch(t *testing.T) {
	rows := replayRows(5000, 700)
	var payloads [][]byte
	for i, size := 0, 1; i < len(rows); i, size = i+size, size*2%997+1 {
		payloads = append(payloads, encodeBatch(nil, rows[i:min(i+size, len(rows))]))
	}
	res := mapResolver{}
	sc := streamCache{res: res}
	var all []headRow
	var allSts []*stream
	for _, p := range payloads {
		n := len(all)
		var err error
		if all, allSts, err = indexBatch(p, &sc, all, allSts); err != nil {
			t.Fatal(err)
		}
		want, wantSts, err := decodeBatch(p, res)
		if err != nil {
			t.Fatal(err)
		}
		if len(all)-n != len(want) {
			t.Fatalf("%d rows indexed, want %d", len(all)-n, len(want))
		}
		for i := range want {
			if allSts[n+i] != wantSts[i] {
				t.Fatalf("row %d: stream %q, want %q", i, allSts[n+i].key, wantSts[i].key)
			}
			if all[n+i].t != want[i].Time {
				t.Fatalf("row %d: indexed time %d, want %d", i, all[n+i].t, want[i].Time)
			}
		}
		if got := decodeHeadRows(t, all[n:], allSts[n:]); !reflect.DeepEqual(got, want) {
			t.Fatalf("indexed rows decode differently from decodeBatch")
		}
	}
	if got := decodeHeadRows(t, all, allSts); !reflect.DeepEqual(got, rows) {
		t.Fatal("indexed rows differ from the originals")
	}
	for i, r := range all {
		l, e := r.lead(), rows[i]
		if l.traceID != e.TraceID || l.spanID != e.SpanID || l.body != e.Body || l.severity != e.Severity || l.name != e.Name {
			t.Fatalf("row %d: leading fields %+v differ from %+v", i, l, e)
		}
	}
}

// Corrupt payloads fail the indexer as they fail decodeBatch.
func TestIndexBatchRejectsCorruption(t *testing.T) {
	p := encodeBatch(nil, replayRows(50, 10))
	for _, bad := range [][]byte{p[:len(p)-1], append(p[:len(p):len(p)], 0), {0x05, 0x01}} {
		if _, _, err := indexBatch(bad, &streamCache{res: mapResolver{}}, nil, nil); err == nil {
			t.Fatalf("corrupt payload of %d bytes indexed", len(bad))
		}
		if _, _, err := decodeBatch(bad, mapResolver{}); err == nil {
			t.Fatalf("decodeBatch accepted a corrupt payload of %d bytes", len(bad))
		}
	}
}

// The head groups rows by day and stream exactly, whatever its stream
// cache holds.
func TestHeadInsertGroupsManyStreams(t *testing.T) {
	rows := replayRows(6000, 500)
	h := newHead(time.Now())
	res := mapResolver{}
	for i := 0; i < len(rows); i += 1000 {
		hrows, sts, err := indexBatch(encodeBatch(nil, rows[i:i+1000]), &streamCache{res: res}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.insert(hrows, sts, 0)
	}
	type dk struct {
		day int32
		key string
	}
	want := map[dk][]string{}
	for _, e := range rows {
		k := dk{dayOf(e.Time), string(appendStreamKey(nil, e.Tenant, e.Signal, e.Stream))}
		want[k] = append(want[k], e.Body+"|"+fmt.Sprint(e.Time))
	}
	got := 0
	var dec headDecoder
	for d, hd := range h.days {
		for hs := range hd.streams.all() {
			st := hs.st
			w := want[dk{d, st.key}]
			if len(hs.rows) != len(w) {
				t.Fatalf("day %d stream %q: %d rows, want %d", d, st.key, len(hs.rows), len(w))
			}
			for i, r := range hs.rows {
				e, err := dec.decode(st, r)
				if err != nil {
					t.Fatal(err)
				}
				if s := e.Body + "|" + fmt.Sprint(e.Time); s != w[i] {
					t.Fatalf("day %d stream %q row %d = %s, want %s", d, st.key, i, s, w[i])
				}
				if r.t != e.Time {
					t.Fatalf("row time %d, indexed %d", e.Time, r.t)
				}
			}
			got++
		}
	}
	if got != len(want) {
		t.Fatalf("%d head streams, want %d", got, len(want))
	}
	if h.rows.Load() != int64(len(rows)) {
		t.Fatalf("head counts %d rows, want %d", h.rows.Load(), len(rows))
	}
}

// FuzzIndexBatch feeds two payloads through one stream cache, as replay
// does: each must be indexed exactly when decodeBatch decodes it, and its
// indexed rows must decode to decodeBatch's rows.
func FuzzIndexBatch(f *testing.F) {
	a := encodeBatch(nil, replayRows(4, 3))
	b := encodeBatch(nil, replayRows(9, 5)[4:])
	f.Add(a, b)
	f.Add(b, a[:len(a)/2])
	f.Fuzz(func(t *testing.T, p1, p2 []byte) {
		sc := streamCache{res: mapResolver{}}
		for _, p := range [][]byte{p1, p2} {
			rows, sts, err := indexBatch(p, &sc, nil, nil)
			want, _, werr := decodeBatch(p, mapResolver{})
			if (err == nil) != (werr == nil) {
				t.Fatalf("indexBatch error %v, decodeBatch error %v", err, werr)
			}
			if err == nil && !reflect.DeepEqual(decodeHeadRows(t, rows, sts), want) {
				t.Fatal("indexed rows and decodeBatch disagree")
			}
		}
	})
}

func gcPercent() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// replayHeadroom raises the GC percent while replays run, never lowers it,
// restores it after the last of concurrent replays and leaves an
// unconfigured (off) GC alone.
func TestReplayHeadroomRestores(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	r1 := replayHeadroom(8 << 30)
	raised := gcPercent()
	if raised <= 100 {
		t.Fatalf("GC percent %d during a 8 GiB replay, want above 100", raised)
	}
	r2 := replayHeadroom(1 << 20)
	if got := gcPercent(); got != raised {
		t.Fatalf("a smaller concurrent replay changed the GC percent to %d (was %d)", got, raised)
	}
	r1()
	if got := gcPercent(); got != raised {
		t.Fatalf("GC percent %d restored while a replay still runs", got)
	}
	r2()
	if got := gcPercent(); got != 100 {
		t.Fatalf("GC percent %d after the replays, want 100", got)
	}
	replayHeadroom(0)()
	if got := gcPercent(); got != 100 {
		t.Fatalf("an empty replay left GC percent %d", got)
	}
	debug.SetGCPercent(-1)
	r := replayHeadroom(8 << 30)
	if got := gcPercent(); got <= 1<<20 {
		t.Fatalf("a replay turned a disabled GC on (percent %d)", got)
	}
	r()
	if got := gcPercent(); got <= 1<<20 {
		t.Fatalf("GC turned on after a replay (percent %d)", got)
	}
}
