package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// grafanaDashboard is a small dashboard as Grafana exports it: two
// Prometheus panels, one text panel sightline cannot draw, one variable.
const grafanaDashboard = `{
  "uid": "svc-red", "title": "Service RED", "schemaVersion": 39,
  "templating": {"list": [{"name": "job", "type": "custom", "query": "sightline,demo"}]},
  "panels": [
    {"id": 1, "type": "timeseries", "title": "Scrapes", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
     "fieldConfig": {"defaults": {"unit": "short"}},
     "targets": [{"expr": "sum by (job) (up{job=\"$job\"})", "legendFormat": "{{job}}"}]},
    {"id": 2, "type": "stat", "title": "Samples", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8},
     "targets": [{"expr": "scrape_samples_scraped"}]},
    {"id": 3, "type": "text", "title": "Runbook", "gridPos": {"x": 0, "y": 8, "w": 24, "h": 4},
     "options": {"content": "call the owner"}}
  ]
}`

// TestUserDashboards imports a Grafana dashboard into the real server,
// edits it, checks a stale edit is refused, and finds it again after a
// crash (kill -9) and restart.
func TestUserDashboards(t *testing.T) {
	s := StartServer(t)
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, out
	}
	code, res := do("POST", "/api/v1/dashboards/import", grafanaDashboard)
	if code != http.StatusCreated {
		t.Fatalf("import: %d %v", code, res)
	}
	data := res["data"].(map[string]any)
	if data["format"] != "grafana" {
		t.Errorf("import format %v", data["format"])
	}
	d := data["dashboard"].(map[string]any)
	panels := d["panels"].([]any)
	if len(panels) != 3 {
		t.Fatalf("imported %d panels, want 3 (the text panel kept as unsupported)", len(panels))
	}
	types := []string{}
	for _, p := range panels {
		types = append(types, p.(map[string]any)["type"].(string))
	}
	if fmt.Sprint(types) != "[timeseries stat unsupported]" {
		t.Errorf("panel types %v", types)
	}
	q := panels[0].(map[string]any)["queries"].([]any)[0].(map[string]any)
	if q["expr"] != `sum by (job) (up{job="$job"})` || q["legend"] != "{{job}}" {
		t.Errorf("first query %v", q)
	}

	// Edit: rename, as version 1; then a second edit still naming version 1
	// is a conflict.
	d["title"] = "Service RED (edited)"
	body, _ := json.Marshal(d)
	if code, res := do("PUT", "/api/v1/dashboards/svc-red", string(body)); code != 200 {
		t.Fatalf("update: %d %v", code, res)
	}
	if code, res := do("PUT", "/api/v1/dashboards/svc-red", string(body)); code != http.StatusConflict {
		t.Fatalf("stale update: %d %v, want 409", code, res)
	}
	if code, res := do("POST", "/api/v1/dashboards", `{"uid":"x","title":"","panels":[{"title":"p","type":"pie"}]}`); code != 400 {
		t.Fatalf("invalid dashboard: %d %v, want 400", code, res)
	}

	s.Kill()
	s.Restart()
	code, res = do("GET", "/api/v1/dashboards/svc-red", "")
	if code != 200 {
		t.Fatalf("after restart: %d %v", code, res)
	}
	got := res["data"].(map[string]any)
	if got["title"] != "Service RED (edited)" || got["version"].(float64) != 2 {
		t.Fatalf("after restart: title %v version %v", got["title"], got["version"])
	}
	// The export imports back as a copy with a new uid.
	resp, err := http.Get(s.URL + "/api/v1/dashboards/svc-red/export")
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(exp, []byte(`"schema"`)) {
		t.Fatalf("export lacks the schema marker: %s", exp)
	}
	code, res = do("POST", "/api/v1/dashboards/import?copy=true", string(exp))
	if code != http.StatusCreated {
		t.Fatalf("re-import: %d %v", code, res)
	}
	if uid := res["data"].(map[string]any)["dashboard"].(map[string]any)["uid"]; uid == "svc-red" || uid == "" {
		t.Errorf("copy got uid %v", uid)
	}
	code, res = do("GET", "/api/v1/dashboards", "")
	if code != 200 || len(res["data"].([]any)) != 2 {
		t.Fatalf("list: %d %v", code, res)
	}
}
