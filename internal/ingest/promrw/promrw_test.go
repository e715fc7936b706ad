package promrw

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sightline/sightline/internal/ingest"
)

// newHandler is the chain the server runs: the guard in front of
// Prometheus' own remote write receiver over a real TSDB.
func newHandler(t testing.TB, maxBytes int64, lim *ingest.Limiter) (http.Handler, *tsdb.DB) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rw := remote.NewWriteHandler(slog.New(slog.DiscardHandler), nil, db, remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType}, false, false)
	return Guard(rw, maxBytes, lim), db
}

func encode(t testing.TB, req *prompb.WriteRequest) []byte {
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func post(h http.Handler, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/api/v1/write", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sampleRequest(n int, ts int64) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for i := range n {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "i", Value: fmt.Sprint(i)}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: ts}},
		})
	}
	return req
}

func TestGuardAdmitsValidWrites(t *testing.T) {
	h, db := newHandler(t, 1<<20, ingest.NewLimiter(4<<20, nil))
	if w := post(h, encode(t, sampleRequest(10, 1000))); w.Code != http.StatusNoContent {
		t.Fatalf("valid write: %d %s", w.Code, w.Body)
	}
	q, _ := db.Querier(0, 2000)
	defer q.Close()
	ss := q.Select(t.Context(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	n := 0
	for ss.Next() {
		n++
	}
	if n != 10 {
		t.Fatalf("stored %d series, want 10", n)
	}
}

func TestGuardRejects(t *testing.T) {
	h, _ := newHandler(t, 1<<10, ingest.NewLimiter(1<<20, nil))
	big := encode(t, sampleRequest(200, 1000)) // > 1 KiB compressed
	for name, tc := range map[string]struct {
		body []byte
		want int
	}{
		"too large compressed":    {big, http.StatusRequestEntityTooLarge},
		"snappy header lies":      {[]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 'x'}, http.StatusRequestEntityTooLarge},
		"not snappy":              {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, http.StatusBadRequest},
		"snappy of garbage proto": {snappy.Encode(nil, []byte("\x0a\x05garbage")), http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			if w := post(h, tc.body); w.Code != tc.want {
				t.Errorf("want %d, got %d %s", tc.want, w.Code, w.Body)
			}
		})
	}
}

func TestGuardBackPressure(t *testing.T) {
	lim := ingest.NewLimiter(16<<10, nil) // the request needs ~6 KB: its bytes and 10 series
	h, _ := newHandler(t, 1<<20, lim)
	if err := lim.Acquire(15 << 10); err != nil { // another request holds most of the budget
		t.Fatal(err)
	}
	w := post(h, encode(t, sampleRequest(10, 1000)))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("want 429 with Retry-After, got %d %v", w.Code, w.Header())
	}
	lim.Release(15 << 10)
	if w := post(h, encode(t, sampleRequest(10, 1000))); w.Code != http.StatusNoContent {
		t.Fatalf("after release: %d %s", w.Code, w.Body)
	}
	if lim.InUse() != 0 {
		t.Fatalf("budget leaked: %d bytes still reserved", lim.InUse())
	}
}

// FuzzRemoteWrite feeds arbitrary bodies through the guard and Prometheus'
// receiver: never a panic, never a 5xx (nothing in a body is a server
// fault), and the budget is always returned.
func FuzzRemoteWrite(f *testing.F) {
	f.Add(encode(f, sampleRequest(3, 1000)))
	f.Add([]byte{})
	f.Add(snappy.Encode(nil, []byte("\x0a\x05garbage")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	lim := ingest.NewLimiter(1<<20, nil)
	h, _ := newHandler(f, 64<<10, lim)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, b := range [][]byte{body, snappy.Encode(nil, body)} {
			w := post(h, b)
			if w.Code >= 500 {
				t.Fatalf("5xx for client input: %d %s", w.Code, w.Body)
			}
		}
		if lim.InUse() != 0 {
			t.Fatalf("budget leaked: %d", lim.InUse())
		}
	})
}

// A small body of many empty series is charged for what the receiver will
// decode, and refused as too large before it does when that could never
// fit the budget.
func TestGuardChargesSeries(t *testing.T) {
	lim := ingest.NewLimiter(1<<20, nil)
	h, _ := newHandler(t, 1<<20, lim)
	var pb []byte
	for range 20_000 {
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendBytes(pb, nil)
	}
	w := post(h, snappy.Encode(nil, pb))
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "20000 series") {
		t.Fatalf("want 413 naming the series, got %d %s", w.Code, w.Body)
	}
	if lim.InUse() != 0 {
		t.Fatalf("%d bytes still reserved", lim.InUse())
	}
}

// BenchmarkGuardCharge is what counting a request's series costs: a
// typical remote_write batch (2000 series of one sample, as Prometheus
// sends by default), decompressed and counted.
func BenchmarkGuardCharge(b *testing.B) {
	body := encode(b, sampleRequest(2000, 1000))
	n, _ := snappy.DecodedLen(body)
	b.SetBytes(int64(n))
	for b.Loop() {
		res := &ingest.Reservation{}
		if err := chargeSeries(res, body, n, "application/x-protobuf"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuardedWrite is the whole receiver for the same batch.
func BenchmarkGuardedWrite(b *testing.B) {
	h, _ := newHandler(b, 1<<20, ingest.NewLimiter(1<<30, nil))
	ts := int64(1000)
	for b.Loop() {
		ts += 1000
		if w := post(h, encode(b, sampleRequest(2000, ts))); w.Code != http.StatusNoContent {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
