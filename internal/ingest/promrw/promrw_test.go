package promrw

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"

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
	lim := ingest.NewLimiter(100, nil)
	h, _ := newHandler(t, 1<<20, lim)
	if err := lim.Acquire(90); err != nil { // another request holds most of the budget
		t.Fatal(err)
	}
	w := post(h, encode(t, sampleRequest(10, 1000)))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("want 429 with Retry-After, got %d %v", w.Code, w.Header())
	}
	lim.Release(90)
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
