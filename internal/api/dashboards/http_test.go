package dashboards

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

type resp struct {
	code int
	env  struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	body string
}

func do(t *testing.T, h http.Handler, method, path, body string) resp {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	r := resp{code: w.Code, body: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &r.env)
	return r
}

func TestHTTPLifecycle(t *testing.T) {
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	steps := []struct {
		name, method, path, body string
		code                     int
		contains                 string
	}{
		{"empty list", "GET", Prefix, "", 200, `"data":[]`},
		{"create", "POST", Prefix, `{"uid": "web", "title": "Web", "panels": [{"title": "Rate", "queries": [{"expr": "rate(x[5m])"}]}]}`, 201, `"version":1`},
		{"duplicate", "POST", Prefix, `{"uid": "web", "title": "Web", "panels": []}`, 409, "already exists"},
		{"unknown field", "POST", Prefix, `{"title": "t", "pannels": []}`, 400, `unknown field \"pannels\"`},
		{"invalid", "POST", Prefix, `{"title": "t", "panels": [{"type": "timeseries"}]}`, 400, "needs at least one query"},
		{"get", "GET", Prefix + "/web", "", 200, `"title":"Web"`},
		{"get missing", "GET", Prefix + "/nope", "", 404, "not found"},
		{"update", "PUT", Prefix + "/web", `{"title": "Web 2", "version": 1, "panels": []}`, 200, `"version":2`},
		{"stale update", "PUT", Prefix + "/web", `{"title": "Web 3", "version": 1, "panels": []}`, 409, "stored one is version 2"},
		{"uid mismatch", "PUT", Prefix + "/web", `{"uid": "other", "title": "x", "version": 2, "panels": []}`, 400, "differs"},
		{"update missing", "PUT", Prefix + "/nope", `{"title": "x", "version": 1, "panels": []}`, 404, "not found"},
		{"list", "GET", Prefix, "", 200, `"title":"Web 2"`},
		{"export", "GET", Prefix + "/web/export", "", 200, `"schema": "sightline.dashboard/v1"`},
		{"bad version", "DELETE", Prefix + "/web?version=x", "", 400, "not a positive integer"},
		{"stale delete", "DELETE", Prefix + "/web?version=1", "", 409, "stored one is version 2"},
		{"delete", "DELETE", Prefix + "/web?version=2", "", 200, `"uid":"web"`},
		{"delete again", "DELETE", Prefix + "/web", "", 404, "not found"},
		{"too large", "POST", Prefix, `{"title": "` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "larger than"},
	}
	for _, st := range steps {
		r := do(t, h, st.method, st.path, st.body)
		if r.code != st.code || !strings.Contains(r.body, st.contains) {
			t.Fatalf("%s: HTTP %d %s; want %d containing %s", st.name, r.code, r.body, st.code, st.contains)
		}
		if r.code >= 400 && (r.env.Status != "error" || r.env.Error == "") {
			t.Fatalf("%s: error without the error envelope: %s", st.name, r.body)
		}
	}
}

func TestHTTPImport(t *testing.T) {
	s, _ := New(t.TempDir(), nil)
	h := s.Handler()
	g, err := os.ReadFile("testdata/grafana-node.json")
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, h, "POST", Prefix+"/import", string(g))
	if r.code != 201 {
		t.Fatalf("import: HTTP %d %s", r.code, r.body)
	}
	var res ImportResult
	if err := json.Unmarshal(r.env.Data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatGrafana || res.Dashboard.UID != "node-basic" || len(res.Dashboard.Panels) != 7 || len(res.Warnings) == 0 {
		t.Fatalf("import result %+v", res)
	}
	if r := do(t, h, "POST", Prefix+"/import", string(g)); r.code != 409 || !strings.Contains(r.env.Error, "overwrite=true") {
		t.Fatalf("second import: HTTP %d %s", r.code, r.body)
	}
	if r := do(t, h, "POST", Prefix+"/import?overwrite=true", string(g)); r.code != 201 || !strings.Contains(r.body, `"version":2`) {
		t.Fatalf("overwrite: HTTP %d %s", r.code, r.body)
	}
	// Export and import as a copy: both exist, with the same panels.
	ex := httptest.NewRecorder()
	h.ServeHTTP(ex, httptest.NewRequest("GET", Prefix+"/node-basic/export", nil))
	if cd := ex.Header().Get("Content-Disposition"); !strings.Contains(cd, "node-basic.json") {
		t.Errorf("Content-Disposition %q", cd)
	}
	body, _ := io.ReadAll(ex.Body)
	r = do(t, h, "POST", Prefix+"/import?copy=true", string(body))
	if r.code != 201 || !strings.Contains(r.body, `"format":"sightline"`) {
		t.Fatalf("copy import: HTTP %d %s", r.code, r.body)
	}
	if got := s.List(); len(got) != 2 || got[0].Panels != 7 || got[1].Panels != 7 {
		t.Fatalf("after copy: %+v", got)
	}
	if r := do(t, h, "POST", Prefix+"/import", `{"title": "x"}`); r.code != 400 {
		t.Fatalf("import of neither format: HTTP %d %s", r.code, r.body)
	}
}

// The routes must coexist with a catch-all "/api/v1/" handler, as on the
// server's main mux.
func TestRegisterBesideCatchAll(t *testing.T) {
	s, _ := New(t.TempDir(), nil)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418) }))
	s.Register(mux)
	if r := do(t, mux, "GET", Prefix, ""); r.code != 200 {
		t.Fatalf("list: HTTP %d", r.code)
	}
	if r := do(t, mux, "GET", "/api/v1/query", ""); r.code != 418 {
		t.Fatalf("catch-all: HTTP %d", r.code)
	}
}
