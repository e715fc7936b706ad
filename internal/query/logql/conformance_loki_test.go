package logql_test

// Differential mode of the conformance suite. With LOGQL_LOKI_URL set to a
// Loki 3.x single binary, TestConformance also pushes every data block to
// that Loki and checks Loki's answers against the same expected results,
// so the expectations are tested against Loki itself and not only against
// its documentation. It is a manual check (no Loki runs in CI); see
// bench/README.md for the Loki configuration it needs: auth_enabled: true
// (each file gets its own tenants), reject_old_samples: false,
// discover_service_name: [] and discover_log_levels: false (Loki must not
// add labels the suite does not expect).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
)

type lokiDiff struct {
	url     string
	prefix  string // tenant prefix, unique per run and file
	offset  int64  // ns added to every suite timestamp (whole hours)
	pending map[string][]logql.Entry
}

func newLokiDiff(t *testing.T, file string) *lokiDiff {
	u := os.Getenv("LOGQL_LOKI_URL")
	if u == "" {
		return nil
	}
	// An hour ago, on the hour: within the window Loki's queriers ask its
	// ingesters about (query_ingesters_within, 3h by default), and aligned
	// so steps fall on the same instants.
	hour := int64(time.Hour)
	return &lokiDiff{
		url:     strings.TrimSuffix(u, "/"),
		prefix:  fmt.Sprintf("conf%d-%s", time.Now().Unix(), strings.TrimSuffix(file, ".test")),
		offset:  (time.Now().UnixNano()/hour - 1) * hour,
		pending: map[string][]logql.Entry{},
	}
}

func (d *lokiDiff) tenant(t string) string {
	if t == "" {
		t = "anonymous"
	}
	return d.prefix + "-" + t
}

func (d *lokiDiff) add(tenant string, e logql.Entry) {
	if d != nil {
		d.pending[tenant] = append(d.pending[tenant], e)
	}
}

// push sends the pending entries with Loki's JSON push format.
func (d *lokiDiff) push(t *testing.T) {
	if d == nil {
		return
	}
	for tenant, entries := range d.pending {
		type stream struct {
			Stream map[string]string `json:"stream"`
			Values [][]any           `json:"values"`
		}
		byStream := map[string]*stream{}
		var order []string
		for _, e := range entries {
			k := e.Labels.String()
			s := byStream[k]
			if s == nil {
				s = &stream{Stream: e.Labels.Map()}
				byStream[k] = s
				order = append(order, k)
			}
			v := []any{strconv.FormatInt(e.Timestamp+d.offset, 10), e.Line}
			if !e.Metadata.IsEmpty() {
				v = append(v, e.Metadata.Map())
			}
			s.Values = append(s.Values, v)
		}
		var body struct {
			Streams []*stream `json:"streams"`
		}
		for _, k := range order {
			body.Streams = append(body.Streams, byStream[k])
		}
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", d.url+"/loki/api/v1/push", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Scope-OrgID", d.tenant(tenant))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("push to loki: %v", err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("push to loki: %d %s", resp.StatusCode, msg)
		}
	}
	d.pending = map[string][]logql.Entry{}
}

// check runs one case against Loki and compares with the expectations.
func (d *lokiDiff) check(t *testing.T, kind string, args map[string]string, q string, expected []string) {
	secs := func(k string) int64 {
		ns, err := parseSecs(args[k])
		if err != nil {
			t.Fatalf("header %s: %v", k, err)
		}
		return ns
	}
	ts := func(ns int64) string { return strconv.FormatInt(ns+d.offset, 10) }
	v := url.Values{"query": {q}}
	p := logql.Params{}
	path := "/loki/api/v1/query_range"
	switch kind {
	case "logs":
		p.Start, p.End = time.Unix(0, secs("start")), time.Unix(0, secs("end"))
		v.Set("start", ts(secs("start")))
		v.Set("end", ts(secs("end")))
		v.Set("limit", "5000")
		if args["limit"] != "" {
			v.Set("limit", args["limit"])
		}
		if args["direction"] != "" {
			v.Set("direction", args["direction"])
		}
	case "instant":
		path = "/loki/api/v1/query"
		p.Start, p.End = time.Unix(0, secs("time")), time.Unix(0, secs("time"))
		v.Set("time", ts(secs("time")))
	case "range":
		p.Start, p.End = time.Unix(0, secs("start")), time.Unix(0, secs("end"))
		step, err := parseStep(args["step"])
		if err != nil {
			t.Fatal(err)
		}
		p.Step = step
		v.Set("start", ts(secs("start")))
		v.Set("end", ts(secs("end")))
		v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	}
	req, _ := http.NewRequest("GET", d.url+path+"?"+v.Encode(), nil)
	req.Header.Set("X-Scope-OrgID", d.tenant(args["tenant"]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("query loki: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantErr := len(expected) == 1 && strings.HasPrefix(expected[0], "error")
	if wantErr {
		if resp.StatusCode == 200 {
			t.Fatalf("loki answered %q although the suite expects %s:\n%s", q, expected[0], body)
		}
		return
	}
	if resp.StatusCode != 200 {
		t.Fatalf("loki refused %q: %d %s", q, resp.StatusCode, body)
	}
	res, err := d.decode(body, p)
	if err != nil {
		t.Fatalf("decode loki answer to %q: %v\n%s", q, err, body)
	}
	got := renderResult(t, res, p, args)
	want := normalizeExpected(t, kind, expected, args)
	if kind == "logs" {
		got, want = streamBlocks(got), streamBlocks(want)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("loki's answer to %q differs from the suite:\n--- loki\n%s\n--- suite\n%s", q, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// streamBlocks joins each stream header with its entries and sorts the
// streams: Loki's stream order is not part of its semantics.
func streamBlocks(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "{") || len(out) == 0 {
			out = append(out, l)
			continue
		}
		out[len(out)-1] += "\n" + l
	}
	sort.Strings(out)
	return out
}

func (d *lokiDiff) decode(body []byte, p logql.Params) (*logql.Result, error) {
	var r struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	point := func(pair []any) (int64, float64, error) {
		if len(pair) != 2 {
			return 0, 0, fmt.Errorf("point %v", pair)
		}
		sec, ok := pair[0].(float64)
		s, ok2 := pair[1].(string)
		if !ok || !ok2 {
			return 0, 0, fmt.Errorf("point %v", pair)
		}
		val, err := strconv.ParseFloat(s, 64)
		return int64(math.Round(sec*1000))*1e6 - d.offset, val, err
	}
	res := &logql.Result{Type: logql.ResultType(r.Data.ResultType)}
	switch res.Type {
	case logql.TypeStreams:
		var ss []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &ss); err != nil {
			return nil, err
		}
		for _, s := range ss {
			st := logql.Stream{Labels: labels.FromMap(s.Stream)}
			for _, v := range s.Values {
				ns, err := strconv.ParseInt(v[0], 10, 64)
				if err != nil {
					return nil, err
				}
				st.Entries = append(st.Entries, logql.StreamEntry{Timestamp: ns - d.offset, Line: v[1]})
			}
			res.Streams = append(res.Streams, st)
		}
	case logql.TypeVector:
		var ss []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &ss); err != nil {
			return nil, err
		}
		for _, s := range ss {
			_, val, err := point(s.Value)
			if err != nil {
				return nil, err
			}
			res.Vector = append(res.Vector, logql.Sample{Labels: labels.FromMap(s.Metric), T: p.End.UnixNano(), V: val})
		}
	case logql.TypeMatrix:
		var ss []struct {
			Metric map[string]string `json:"metric"`
			Values [][]any           `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &ss); err != nil {
			return nil, err
		}
		for _, s := range ss {
			se := logql.Series{Labels: labels.FromMap(s.Metric)}
			for _, pv := range s.Values {
				ns, val, err := point(pv)
				if err != nil {
					return nil, err
				}
				se.Points = append(se.Points, logql.Point{T: ns, V: val})
			}
			res.Matrix = append(res.Matrix, se)
		}
	case logql.TypeScalar:
		var pv []any
		if err := json.Unmarshal(r.Data.Result, &pv); err != nil {
			return nil, err
		}
		_, val, err := point(pv)
		if err != nil {
			return nil, err
		}
		res.Scalar = logql.Point{T: p.End.UnixNano(), V: val}
	default:
		return nil, fmt.Errorf("result type %q", r.Data.ResultType)
	}
	return res, nil
}
