package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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

func newServer(t *testing.T) (*httptest.Server, *memWriter) {
	s, err := logstore.NewSchema(logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &memWriter{}
	h := &Handler{Schema: s, Writer: w, Mapping: logstore.DefaultJSONMapping(), MaxRequestBytes: 1 << 20}
	mux := http.NewServeMux()
	h.Register(mux, "/elastic")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, w
}

func TestBulk(t *testing.T) {
	srv, w := newServer(t)
	body := `{"index":{"_index":"logs-a","_id":"x1"}}
{"@timestamp":"2026-11-20T12:00:00.5Z","message":"hello","service.name":"cart","http":{"status":500},"level":"error"}
{"create":{}}
{"message":"two","kubernetes":{"namespace":"shop"}}
{"index":{}}
not json
{"update":{"_id":"1"}}
{"doc":{}}
`
	req, _ := http.NewRequest("POST", srv.URL+"/elastic/fallback/_bulk", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.elasticsearch+x-ndjson; compatible-with=8")
	req.Header.Set("Accept", "application/vnd.elasticsearch+json; compatible-with=8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	var out struct {
		Took   *int64                      `json:"took"`
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]any `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !out.Errors || len(out.Items) != 4 || out.Took == nil {
		t.Fatalf("got %+v", out)
	}
	created, failed := out.Items[0]["index"], out.Items[3]["update"]
	if created["result"] != "created" || created["_version"] != 1.0 || created["_primary_term"] != 1.0 ||
		created["_seq_no"] == nil || created["_shards"] == nil {
		t.Errorf("created item: %v", created)
	}
	if e, ok := failed["error"].(map[string]any); !ok || e["type"] == nil || e["reason"] == nil || failed["_id"] != "1" {
		t.Errorf("failed item: %v", failed)
	}
	wantStatus := []float64{201, 201, 400, 400}
	for i, it := range out.Items {
		for _, res := range it {
			if res["status"] != wantStatus[i] {
				t.Errorf("item %d: %v", i, res)
			}
		}
	}
	if out.Items[0]["index"]["_id"] != "x1" || out.Items[1]["create"]["_index"] != "fallback" {
		t.Errorf("ids/indexes: %+v", out.Items)
	}
	if len(w.rows) != 2 {
		t.Fatalf("stored %d rows, want 2", len(w.rows))
	}
	r := w.rows[0]
	if r.Body != "hello" || r.Severity != "error" || r.Stream.Get("service_name") != "cart" || r.Time != 1795176000500000000 {
		t.Errorf("row 0: %+v", r)
	}
	if v, ok := r.Field("http_status"); !ok || v.Int() != 500 {
		t.Errorf("nested field: %+v", r.Attrs)
	}
	if v, _ := r.Field(IndexField); v.Str != "logs-a" {
		t.Errorf("index field: %+v", r.Attrs)
	}
}

func TestProbesAndErrors(t *testing.T) {
	srv, _ := newServer(t)
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/elastic/", 200, `"number":"8.11.0"`},
		{"GET", "/elastic", 200, `You Know, for Search`},
		{"HEAD", "/elastic/", 200, ""},
		{"GET", "/elastic/_license", 200, `"status":"active"`},
		{"GET", "/elastic/_xpack", 200, `"license"`},
		{"GET", "/elastic/_cat/health", 200, `green`},
		{"HEAD", "/elastic/_index_template/logs", 200, ""},
		{"PUT", "/elastic/_ilm/policy/p", 200, `"acknowledged":true`},
		{"GET", "/elastic/_search", 404, `not supported`},
		{"POST", "/elastic/_bulk", 400, `action line`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(`{"bad"`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		sb.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(sb.String(), tc.want) || resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, sb.String())
		}
	}
}

func FuzzDecodeBulk(f *testing.F) {
	f.Add([]byte("{\"index\":{}}\n{\"message\":\"x\",\"a\":{\"b\":1}}\n"))
	f.Add([]byte("{\"create\":{\"_index\":\"i\"}}\n{\"@timestamp\":1700000000}\n{\"delete\":{}}\n"))
	s, _ := logstore.NewSchema(logstore.Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, docs, err := DecodeBulk(s, "", "idx", b, logstore.DefaultJSONMapping(), 1)
		if err != nil {
			return
		}
		if len(docs) > len(items) {
			t.Fatalf("%d docs for %d items", len(docs), len(items))
		}
		for _, d := range docs {
			if err := d.Row.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
