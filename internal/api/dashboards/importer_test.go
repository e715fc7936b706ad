package dashboards

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDecodeGrafana(t *testing.T) {
	b, err := os.ReadFile("testdata/grafana-node.json")
	if err != nil {
		t.Fatal(err)
	}
	im, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	d := im.Dashboard
	if im.Format != FormatGrafana || d.UID != "node-basic" || d.Title != "Node basics" || d.Source != "grafana" {
		t.Fatalf("format %q uid %q title %q source %q", im.Format, d.UID, d.Title, d.Source)
	}
	type want struct {
		title, typ, unit, orig string
		exprs                  []string
		legend                 string
		grid                   GridPos
	}
	wants := []want{
		{"CPU busy", TypeTimeseries, "percent", "", []string{`1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", job=~"$job"}[$__rate_interval]))`}, "{{instance}}", GridPos{0, 0, 12, 8}},
		{"Load", TypeTimeseries, "short", "", []string{`node_load1{job=~"${job}"}`}, "", GridPos{12, 0, 12, 8}},
		{"Memory used", TypeStat, "bytes", "", []string{`node_memory_MemTotal_bytes{job=~"${job}"} - node_memory_MemAvailable_bytes`}, "", GridPos{0, 8, 6, 4}},
		{"Latency heatmap", TypeUnsupported, "", "heatmap", []string{`sum by (le) (rate(http_request_duration_seconds_bucket[5m]))`}, "", GridPos{6, 8, 18, 8}},
		{"Targets", TypeTable, "", "", []string{"up"}, "{{job}}", GridPos{0, 17, 24, 6}},
		{"Read me", TypeUnsupported, "", "text", nil, "", GridPos{0, 23, 24, 3}},
		{"Logs rate", TypeUnsupported, "", "timeseries", nil, "", GridPos{0, 26, 12, 8}},
	}
	if len(d.Panels) != len(wants) {
		t.Fatalf("got %d panels, want %d: %+v", len(d.Panels), len(wants), d.Panels)
	}
	for i, w := range wants {
		p := d.Panels[i]
		t.Run(w.title, func(t *testing.T) {
			if p.Title != w.title || p.Type != w.typ || p.Unit != w.unit || p.OriginalType != w.orig || p.GridPos != w.grid {
				t.Errorf("got %+v", p)
			}
			var exprs []string
			for _, q := range p.Queries {
				exprs = append(exprs, q.Expr)
			}
			if strings.Join(exprs, "|") != strings.Join(w.exprs, "|") {
				t.Errorf("exprs %q, want %q", exprs, w.exprs)
			}
			if len(p.Queries) > 0 && p.Queries[0].Legend != w.legend {
				t.Errorf("legend %q, want %q", p.Queries[0].Legend, w.legend)
			}
			if w.typ == TypeUnsupported && p.Note == "" {
				t.Errorf("unsupported panel without a note")
			}
		})
	}
	if !strings.Contains(d.Panels[5].Note, "Ask #ops") {
		t.Errorf("text panel note %q lost its content", d.Panels[5].Note)
	}
	if len(d.Variables) != 2 {
		t.Fatalf("variables %+v, want job and quantile", d.Variables)
	}
	if v := d.Variables[0]; v.Name != "job" || v.Type != VarQuery || v.Query != "label_values(node_uname_info, job)" || !v.IncludeAll || v.Default != "" {
		t.Errorf("job variable %+v", v)
	}
	if v := d.Variables[1]; v.Name != "quantile" || v.Type != VarCustom || strings.Join(v.Options, ",") != "0.5,0.9,0.99" || v.Default != "0.9" {
		t.Errorf("quantile variable %+v", v)
	}
	joined := strings.Join(im.Warnings, "\n")
	for _, s := range []string{`"datasource"`, `"cluster"`, "heatmap", "Read me", "loki"} {
		if !strings.Contains(joined, s) {
			t.Errorf("warnings do not mention %s:\n%s", s, joined)
		}
	}
}

func TestDecodeGrafanaLegacyRowsAndWrapper(t *testing.T) {
	in := `{"meta": {"slug": "x"}, "dashboard": {"title": "Old", "rows": [
	  {"panels": [{"type": "graph", "title": "a", "span": 6, "targets": [{"expr": "up"}]},
	              {"type": "singlestat", "title": "b", "span": 6, "format": "ms", "targets": [{"expr": "1"}]},
	              {"type": "graph", "title": "c", "span": 4, "targets": [{"expr": "2"}]}]},
	  {"panels": [{"type": "table", "title": "d", "span": 12, "targets": [{"expr": "3"}]}]}]}}`
	im, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]GridPos{}
	for _, p := range im.Dashboard.Panels {
		got[p.Title] = p.GridPos
	}
	want := map[string]GridPos{"a": {0, 0, 12, 8}, "b": {12, 0, 12, 8}, "c": {0, 8, 8, 8}, "d": {0, 16, 24, 8}}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("panel %s at %+v, want %+v", k, got[k], w)
		}
	}
	if im.Dashboard.Panels[1].Unit != "milliseconds" || im.Dashboard.Panels[1].Type != TypeStat {
		t.Errorf("singlestat became %+v", im.Dashboard.Panels[1])
	}
}

func TestDecodeSightlineRoundTrip(t *testing.T) {
	d := &Dashboard{UID: "rt", Title: "Round trip", Tags: []string{"a"}, Version: 7,
		Variables: []Variable{{Name: "svc", Type: VarQuery, Query: "label_values(up, job)"}},
		Panels: []Panel{{ID: 3, Title: "Up", Type: TypeStat, Unit: "short", GridPos: GridPos{0, 0, 6, 4},
			Queries: []Query{{Expr: "up", Legend: "{{job}}"}}}}}
	b, err := Export(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"schema": "`+Schema+`"`) {
		t.Fatalf("export lacks the schema: %s", b)
	}
	im, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got := im.Dashboard
	if im.Format != FormatSightline || got.Version != 0 {
		t.Fatalf("format %q version %d", im.Format, got.Version)
	}
	got.Version = d.Version
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(d)
	if string(gb) != string(wb) {
		t.Errorf("round trip changed the dashboard:\n got %s\nwant %s", gb, wb)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not json", `{`, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"other schema", `{"schema": "x/v9", "title": "t"}`, `schema "x/v9" is not supported`},
		{"neither", `{"title": "t"}`, "neither a sightline dashboard"},
		{"bad sightline panel", `{"schema": "` + Schema + `", "title": "t", "panels": [{"type": "pie", "queries": [{"expr": "up"}]}]}`, `type "pie" is not supported`},
		{"sightline without title", `{"schema": "` + Schema + `", "panels": []}`, "title is required"},
		{"too many panels", `{"title": "t", "panels": [` + strings.Repeat(`{"type": "graph"},`, MaxPanels) + `{"type": "graph"}]}`, "at most 100"},
		{"too big", `{"title": "` + strings.Repeat("x", MaxBodyBytes) + `"}`, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !asValidation(err) {
				t.Fatalf("err = %v, want a validation error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile("testdata/grafana-node.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"dashboard": {"title": "x", "rows": [{"panels": [{"type": "graph", "span": 30, "targets": [{"expr": "[[a:csv]]"}]}]}]}}`))
	f.Add([]byte(`{"schema": "` + Schema + `", "title": "t", "panels": [{"queries": [{"expr": "up"}], "gridPos": {"x": 20, "w": 4}}]}`))
	f.Add([]byte(`{"title": "t", "templating": {"list": [{"name": "v", "type": "custom", "options": [{"value": ["a"]}]}]}, "panels": [{"gridPos": {"x": 1e300, "w": -5}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := Decode(b)
		if err != nil {
			if !asValidation(err) {
				t.Fatalf("error is not a validation error: %v", err)
			}
			return
		}
		d := im.Dashboard
		// Whatever decodes must be storable and survive its own export.
		if err := d.normalize(); err != nil {
			t.Fatalf("decoded dashboard does not validate: %v", err)
		}
		out, err := Export(d)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("export does not decode: %v\n%s", err, out)
		}
		if len(again.Dashboard.Panels) != len(d.Panels) || again.Dashboard.Title != d.Title {
			t.Fatalf("export round trip changed the dashboard")
		}
	})
}
