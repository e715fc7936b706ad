package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want float64
		bad  bool
	}{
		{"plain", "42 (sightline) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 9 0 100 0 0", 3.8, false},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 0.03, false},
		{"short", "7 (x) R 1 2", 0, true},
		{"no name", "7 x R", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 2 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Fatalf("want error, got %v", got)
				}
				return
			}
			if err != nil || got < tc.want-1e-9 || got > tc.want+1e-9 {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCPUSecondsOfSelf(t *testing.T) {
	s, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if s < 0 {
		t.Fatalf("negative CPU seconds %v", s)
	}
}

func TestNDJSONBodies(t *testing.T) {
	lines := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":22}`), []byte(`{"c":333}`)}
	for _, tc := range []struct {
		max  int
		want []string
	}{
		{1 << 20, []string{"{\"a\":1}\n{\"b\":22}\n{\"c\":333}\n"}},
		{17, []string{"{\"a\":1}\n{\"b\":22}\n", "{\"c\":333}\n"}},
		{1, []string{"{\"a\":1}\n", "{\"b\":22}\n", "{\"c\":333}\n"}}, // a line is never split
	} {
		got := ndjsonBodies(lines, tc.max)
		if len(got) != len(tc.want) {
			t.Fatalf("max %d: %d bodies %q, want %d", tc.max, len(got), got, len(tc.want))
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("max %d body %d = %q, want %q", tc.max, i, got[i], tc.want[i])
			}
		}
		if n := len(ndjsonChunks(lines, tc.max)); n != len(tc.want) {
			t.Errorf("max %d: ndjsonChunks gives %d runs, want %d", tc.max, n, len(tc.want))
		}
	}
}

func TestLokiBody(t *testing.T) {
	lines := [][]byte{
		[]byte(`{"ts":"2026-01-01T00:00:01.5Z","level":"info","service":"b","trace_id":"ab","msg":"x <y>"}`),
		[]byte(`{"ts":"2026-01-01T00:00:02Z","level":"error","service":"a","msg":"z"}`),
		[]byte(`{"ts":"2026-01-01T00:00:03Z","level":"warn","service":"b","msg":"w"}`),
	}
	b, err := lokiBody(lines)
	if err != nil {
		t.Fatal(err)
	}
	var push struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][3]any          `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &push); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	if len(push.Streams) != 2 || push.Streams[0].Stream["service"] != "a" || push.Streams[1].Stream["service"] != "b" {
		t.Fatalf("streams %+v", push.Streams)
	}
	b0 := push.Streams[1].Values[0]
	if b0[0] != "1767225601500000000" || b0[1] != string(lines[0]) {
		t.Errorf("first entry of b: %v", b0)
	}
	meta := b0[2].(map[string]any)
	if meta["level"] != "info" || meta["trace_id"] != "ab" {
		t.Errorf("metadata %v", meta)
	}
	if _, ok := push.Streams[1].Values[1][2].(map[string]any)["trace_id"]; ok {
		t.Errorf("a line without trace_id got one")
	}
	for _, bad := range []string{`{"ts":"x","service":"a"}`, `{"ts":"2026-01-01T00:00:02Z"}`, `not json`} {
		if _, err := lokiBody([][]byte{[]byte(bad)}); err == nil {
			t.Errorf("%s: want error", bad)
		}
	}
}

func TestParseResponses(t *testing.T) {
	streams := `{"status":"success","data":{"resultType":"streams","result":[
		{"stream":{"service":"a"},"values":[["1","x"],["2","y",{"level":"info"}]]},
		{"stream":{"service":"b"},"values":[["3","z"]]}]}}`
	a, err := parseLokiStreams([]byte(streams))
	if err != nil || a.Rows != 3 {
		t.Fatalf("streams: %v, %v; want 3 rows", a, err)
	}
	if _, err := parseLokiStreams([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`)); err == nil {
		t.Error("matrix accepted as streams")
	}
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"level":"info"},"values":[[1,"2"],[61,"3"]]},
		{"metric":{"level":"error"},"values":[[1,"1"]]}]}}`
	a, err = parseMatrix([]byte(matrix), "level")
	want := answer{Groups: map[string]int64{"info": 5, "error": 1}}
	if err != nil || !a.equal(want) {
		t.Fatalf("matrix: %v, %v; want %v", a, err, want)
	}
	if _, err := parseMatrix([]byte(`{"status":"error"}`), "level"); err == nil {
		t.Error("error status accepted")
	}
}

func TestAnswerEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b answer
		want bool
	}{
		{answer{Rows: 3}, answer{Rows: 3}, true},
		{answer{Rows: 3}, answer{Rows: 4}, false},
		{answer{Groups: map[string]int64{"a": 1}}, answer{Groups: map[string]int64{"a": 1}}, true},
		{answer{Groups: map[string]int64{"a": 1}}, answer{Groups: map[string]int64{"a": 2}}, false},
		{answer{Groups: map[string]int64{"a": 1}}, answer{Groups: map[string]int64{"a": 1, "b": 0}}, false},
	} {
		if got := tc.a.equal(tc.b); got != tc.want {
			t.Errorf("%v == %v: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRangeCoversData(t *testing.T) {
	s := Stats{Start: time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC), End: time.Date(2026, 1, 1, 11, 0, 30, 0, time.UTC)}
	r := rangeFor(s)
	if !r.start.Before(s.Start.Add(-59*time.Second)) || !r.end.After(s.End.Add(59*time.Second)) || r.start.Second() != 0 {
		t.Fatalf("range %v–%v does not cover %v–%v with a minute to spare on minute boundaries", r.start, r.end, s.Start, s.End)
	}
}

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "top.txt"), bytes.Repeat([]byte("x"), 10), 0o644))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "c", "deep"), bytes.Repeat([]byte("y"), 5000), 0o644))
	_, apparent, by, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if apparent != 5010 {
		t.Errorf("apparent %d, want 5010", apparent)
	}
	if _, ok := by["a/b"]; !ok || len(by) != 2 {
		t.Errorf("by dir %v, want keys . and a/b", by)
	}
}

func TestTable(t *testing.T) {
	mk := func(target string, lines int64, cpu float64, disk int64, ms float64, ok bool) Result {
		return Result{Target: target, Lines: lines, IngestCPUS: cpu, SettledCPUS: cpu, DiskBytes: disk,
			Queries: []QueryResult{{Name: "needle", MedianMS: ms, Correct: ok}}}
	}
	var b strings.Builder
	writeTable(&b, []Result{mk("sightline", 1000, 2, 20000, 5, true), mk("peer", 1000, 4, 10000, 10, false)})
	out := b.String()
	for _, want := range []string{
		"| ingest lines per CPU-s (at last ack) | higher | 500 | 250 | 2.00 |",
		"| disk bytes per line (allocated) | lower | 20.0 | 10.0 | 2.00 |",
		"| needle quixotry (word in VictoriaLogs): median ms (warm) | lower | 5.0 | 10.0 (WRONG) | 0.50 |",
		"| one trace id: median ms (warm) | lower | – | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestCountNeedles(t *testing.T) {
	lines := [][]byte{
		[]byte(`{"msg":"done note=zymurgy"}`),
		[]byte(`{"msg":"request completed","http":{"path":"/x?ref=zymurgy"}}`),
		[]byte(`{"msg":"nothing"}`),
	}
	s := Stats{Needles: map[string]int64{"zymurgy": 2, "jackdaw": 0}}
	if err := s.countNeedles(lines); err != nil {
		t.Fatal(err)
	}
	if s.MsgNeedles["zymurgy"] != 1 || s.MsgNeedles["jackdaw"] != 0 {
		t.Errorf("msg needles %v, want zymurgy 1, jackdaw 0", s.MsgNeedles)
	}
	s.Needles["zymurgy"] = 3
	if err := s.countNeedles(lines); err == nil {
		t.Error("a count that disagrees with the stats was accepted")
	}
}
