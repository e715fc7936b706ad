package ship

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sightline/sightline/internal/agent/checkpoint"
	"github.com/sightline/sightline/internal/agent/parse"
	"github.com/sightline/sightline/internal/agent/tail"
)

func TestBatchRoundTrip(t *testing.T) {
	b := &Batch{Seq: 42, ID: "agent-42", Records: 3, Logs: []byte("payload"), Positions: []checkpoint.Position{
		{Path: "/a.log", Dev: 1, Ino: 2, FP: checkpoint.Fingerprint{Len: 1024, Hash: 1<<63 + 5}, Offset: 1 << 40, Updated: time.Unix(5, 6).UTC()},
		{Path: "/b", Closed: true, Updated: time.Unix(0, 0).UTC()},
	}}
	got, err := UnmarshalBatch(MarshalBatch(nil, b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("got %+v\nwant %+v", got, b)
	}
	for _, bad := range [][]byte{nil, {2}, {1, 0x80}, MarshalBatch(nil, b)[:12]} {
		if _, err := UnmarshalBatch(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func FuzzUnmarshalBatch(f *testing.F) {
	f.Add(MarshalBatch(nil, &Batch{Seq: 1, ID: "x", Records: 1, Positions: []checkpoint.Position{{Path: "/p", Offset: 3}}, Logs: []byte{1, 2}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := UnmarshalBatch(data)
		if err != nil {
			return
		}
		again, err := UnmarshalBatch(MarshalBatch(nil, b))
		if err != nil || again.Seq != b.Seq || again.ID != b.ID || len(again.Positions) != len(b.Positions) || string(again.Logs) != string(b.Logs) {
			t.Fatalf("re-encode changed the batch: %v", err)
		}
	})
}

// receiver is an OTLP/HTTP logs endpoint that really decodes what arrives.
type receiver struct {
	mu     sync.Mutex
	status []int // answers to give before accepting (popped per request)
	ids    []string
	bodies []string
	attrs  []map[string]any
	res    []map[string]any
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.status) > 0 {
		code := rc.status[0]
		rc.status = rc.status[1:]
		http.Error(w, "try later", code)
		return
	}
	if r.URL.Path != DefaultPath || r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request shape", http.StatusBadRequest)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.ids = append(rc.ids, r.Header.Get(BatchIDHeader))
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rc.bodies = append(rc.bodies, lrs.At(k).Body().Str())
				rc.attrs = append(rc.attrs, lrs.At(k).Attributes().AsRaw())
				rc.res = append(rc.res, rl.Resource().Attributes().AsRaw())
			}
		}
	}
}

func testBatch(t *testing.T, bodies ...string) *Batch {
	t.Helper()
	e := NewEncoder()
	src := &tail.Source{ID: 7, Path: "/var/log/pods/ns_pod_uid/c/0.log", Dev: 1, Ino: 9}
	meta := &parse.Meta{Path: src.Path, Resource: []parse.Attr{{Key: "k8s.namespace.name", Value: "ns"}, {Key: "service.name", Value: "svc"}}}
	now := time.Unix(100, 0)
	for i, b := range bodies {
		e.Add(&parse.Record{Source: src, Meta: meta, Offset: int64(10 * (i + 1)), Body: b, Observed: now, Level: "warn", Severity: parse.SevWarn,
			Fields: []parse.Field{{Key: "n", Value: int64(i)}, {Key: "ok", Value: true}}, Stream: "stdout"}, now)
	}
	e.Add(&parse.Record{Source: src, Meta: meta, Offset: 999, Drop: true}, now)
	b, err := e.Finish(5, "agent-5")
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != len(bodies) || len(b.Positions) != 1 || b.Positions[0].Offset != 999 {
		t.Fatalf("batch %+v", b)
	}
	return b
}

func newClient(t *testing.T, url string) (*Client, *Metrics) {
	t.Helper()
	o := DefaultOptions()
	o.Server, o.MinBackoff, o.MaxBackoff = url, time.Millisecond, 5*time.Millisecond
	m := NewMetrics(nil)
	c, err := NewClient(o, nil, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

func TestDeliverDecodesAndRetries(t *testing.T) {
	rc := &receiver{status: []int{503, 429, 500}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c, m := newClient(t, srv.URL)
	if err := c.Deliver(context.Background(), testBatch(t, "a", "b")); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !reflect.DeepEqual(rc.bodies, []string{"a", "b"}) || !reflect.DeepEqual(rc.ids, []string{"agent-5"}) {
		t.Fatalf("bodies %v ids %v", rc.bodies, rc.ids)
	}
	want := map[string]any{"log.file.path": "/var/log/pods/ns_pod_uid/c/0.log", "log.file.name": "0.log", "log.iostream": "stdout", "n": int64(1), "ok": true}
	if !reflect.DeepEqual(rc.attrs[1], want) {
		t.Fatalf("attrs %v", rc.attrs[1])
	}
	if rc.res[0]["k8s.namespace.name"] != "ns" || rc.res[0]["service.name"] != "svc" {
		t.Fatalf("resource %v", rc.res[0])
	}
	if got := testutil.ToFloat64(m.Retries); got != 3 {
		t.Fatalf("retries = %v", got)
	}
	if got := testutil.ToFloat64(m.RecordsSent); got != 2 {
		t.Fatalf("records sent = %v", got)
	}
}

func TestDeliverRejectsClientErrorsWithoutLooping(t *testing.T) {
	rc := &receiver{status: []int{400, 400, 400}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c, m := newClient(t, srv.URL)
	err := c.Deliver(context.Background(), testBatch(t, "a"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v", err)
	}
	if testutil.ToFloat64(m.BatchesRejected) != 1 || testutil.ToFloat64(m.Retries) != 0 {
		t.Fatal("rejection not counted or retried")
	}
}

func TestDeliverStopsOnCancelAndNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	c, m := newClient(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Deliver(ctx, testBatch(t, "a")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if testutil.ToFloat64(m.Retries) < 2 {
		t.Fatal("network errors were not retried")
	}
	// Position-only batches need no request.
	if err := c.Deliver(context.Background(), &Batch{Seq: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, srv := range []string{"", "ftp://x", "http://"} {
		o := DefaultOptions()
		o.Server = srv
		if err := o.Validate(); err == nil {
			t.Errorf("%q accepted", srv)
		}
	}
}
