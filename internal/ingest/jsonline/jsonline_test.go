package jsonline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

type memWriter struct {
	mu   sync.Mutex
	rows []model.Event
}

func (m *memWriter) Write(_ context.Context, rows []model.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, rows...)
	return nil
}

func TestJSONLines(t *testing.T) {
	s, _ := logstore.NewSchema(logstore.Options{})
	w := &memWriter{}
	h := &Handler{Schema: s, Writer: w, Mapping: logstore.DefaultJSONMapping(), MaxRequestBytes: 1 << 20}
	body := `{"_msg":"one","_time":"2026-11-20T12:00:00Z","app":"a","host":"h1","n":1}

{"message":"two","time":1795176001,"app":"a","host":"h2","n":"x"}
{"msg":"three","timestamp":1795176002000,"app":"b","nested":{"k":[1,2]}}
`
	req := httptest.NewRequest("POST", "/api/v1/logs/jsonline?_stream_fields=app", strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"rows":3`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want := []struct {
		body, app string
		t         int64
	}{{"one", "a", 1795176000e9}, {"two", "a", 1795176001e9}, {"three", "b", 1795176002e9}}
	for i, r := range w.rows {
		if r.Body != want[i].body || r.Stream.Get("app") != want[i].app || r.Time != want[i].t {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if v, _ := w.rows[2].Field("nested_k"); v.Str != "[1,2]" {
		t.Errorf("array kept as JSON: %+v", w.rows[2].Attrs)
	}
	if v, _ := w.rows[1].Field("n"); v.Str != "x" {
		t.Errorf("string after number: %+v", w.rows[1].Attrs)
	}

	for _, bad := range []struct{ body, want string }{
		{"{\"_msg\":\"ok\"}\n[1,2]\n", "line 2"},
		{"{\"_msg\":\"ok\",\"_time\":\"yesterday\"}", "neither RFC3339"},
		{"{\"_msg\":\"ok\"} {}", "data after the object"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/logs/jsonline", strings.NewReader(bad.body)))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), bad.want) {
			t.Errorf("%q: %d %s", bad.body, rec.Code, rec.Body)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("{\"_msg\":\"x\",\"a\":{\"b\":{\"c\":1}},\"t\":true}\n{\"time\":\"2026-01-01T00:00:00Z\"}"))
	f.Add([]byte("{\"_time\":1e30}"))
	s, _ := logstore.NewSchema(logstore.Options{MaxFields: 8, MaxDepth: 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := Decode(s, "", b, logstore.DefaultJSONMapping(), 1)
		if err != nil {
			return
		}
		for i := range rows {
			if err := rows[i].Validate(); err != nil {
				t.Fatal(err)
			}
			if len(rows[i].Attrs) > 9 {
				t.Fatalf("%d attrs beyond the bound", len(rows[i].Attrs))
			}
		}
	})
}

// A body of many tiny lines is charged per line: when its rows could never
// fit the in-flight budget it is refused before a row is decoded.
func TestManyLinesAreCharged(t *testing.T) {
	s, _ := logstore.NewSchema(logstore.Options{})
	w := &memWriter{}
	h := &Handler{Schema: s, Writer: w, Mapping: logstore.DefaultJSONMapping(), MaxRequestBytes: 1 << 20,
		Limiter: ingest.NewLimiter(1<<20, nil)}
	body := strings.Repeat("{}\n", 100_000) // 300 KB, 100k rows
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/logs/jsonline", strings.NewReader(body)))
	if rec.Code != http.StatusRequestEntityTooLarge || len(w.rows) != 0 {
		t.Fatalf("want 413 with nothing stored, got %d %s (%d rows)", rec.Code, rec.Body, len(w.rows))
	}
	if h.Limiter.InUse() != 0 {
		t.Fatalf("%d bytes still reserved", h.Limiter.InUse())
	}
}
