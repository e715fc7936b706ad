package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

var base = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type fixture struct {
	srv    *httptest.Server
	slow   *httptest.Server // the same API without the count fast path
	st     *eventstore.Store
	schema *logstore.Schema
	clock  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	o := eventstore.DefaultOptions()
	o.Now = func() time.Time { return base.Add(time.Hour) }
	o.Logger = slog.New(slog.DiscardHandler)
	st, err := eventstore.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	schema, _ := logstore.NewSchema(logstore.Options{})
	eng, err := logql.NewEngine(&logstore.Source{R: st, Schema: schema}, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, schema: schema, clock: base.Add(10 * time.Minute)}
	src := &logstore.Source{R: st, Schema: schema}
	for i, counter := range []Counter{src, nil} {
		api, err := New(Options{Engine: eng, Index: st, Counter: counter, TailPoll: 20 * time.Millisecond, Now: func() time.Time { return f.clock }, Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		api.Register(mux, "")
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		if i == 0 {
			f.srv = srv
		} else {
			f.slow = srv
		}
	}
	return f
}

func (f *fixture) add(t *testing.T, app, level, line string, at time.Time) {
	t.Helper()
	r := f.schema.NewRecord("", at.UnixNano())
	r.AddStreamLabel("app", app)
	r.SetBody(line)
	r.SetSeverity(level)
	if err := f.st.Append(context.Background(), []model.Event{r.Event()}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) get(t *testing.T, path string, params url.Values) (int, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestQueryAPIShapes(t *testing.T) {
	f := newFixture(t)
	for i := range 6 {
		f.add(t, []string{"cart", "shop"}[i%2], []string{"info", "error", "info"}[i%3], fmt.Sprintf("line %d", i), base.Add(time.Duration(i)*time.Minute))
	}
	rng := url.Values{"start": {fmt.Sprint(base.UnixNano())}, "end": {fmt.Sprint(base.Add(10 * time.Minute).UnixNano())}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range rng {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name, path string
		params     url.Values
		code       int
		want       []string
	}{
		{"streams backward", "/loki/api/v1/query_range", with("query", `{app="cart"}`, "limit", "2"), 200,
			[]string{`"resultType":"streams"`, `"line 4"`, `"line 2"`, `"status":"success"`}},
		{"streams forward", "/loki/api/v1/query_range", with("query", `{app=~".+"} |= "line"`, "limit", "1", "direction", "forward"), 200,
			[]string{`"line 0"`}},
		{"matrix", "/loki/api/v1/query_range", with("query", `sum by (level) (count_over_time({app=~".+"}[10m]))`, "step", "600"), 200,
			[]string{`"resultType":"matrix"`, `"metric":{"level":"error"}`, `[1795176600,"2"]`, `"metric":{"level":"info"}`, `[[1795176000,"1"],[1795176600,"3"]]`}},
		{"instant vector", "/loki/api/v1/query", url.Values{"query": {`sum(count_over_time({app="shop"}[1h]))`}, "time": {fmt.Sprint(base.Add(10 * time.Minute).Unix())}}, 200,
			[]string{`"resultType":"vector"`, `"value":[1795176600,"3"]`}},
		{"instant log query refused", "/loki/api/v1/query", url.Values{"query": {`{app="shop"}`}}, 400, []string{"instant query"}},
		{"parse error", "/loki/api/v1/query_range", with("query", `{app="shop"`), 400, []string{"parse error"}},
		{"bad limit", "/loki/api/v1/query_range", with("query", `{app="shop"}`, "limit", "-1"), 400, []string{"invalid limit"}},
		{"labels", "/loki/api/v1/labels", rng, 200, []string{`{"status":"success","data":["app"]}`}},
		{"label values", "/loki/api/v1/label/app/values", rng, 200, []string{`"data":["cart","shop"]`}},
		{"series", "/loki/api/v1/series", with("match[]", `{app="shop"}`), 200, []string{`"data":[{"app":"shop"}]`}},
		{"stats", "/loki/api/v1/index/stats", with("query", `{app="shop"}`), 200, []string{`"entries":3`, `"streams":1`}},
		{"format", "/loki/api/v1/format_query", url.Values{"query": {`{app="x"}|="a"|json`}}, 200, []string{`"data":"{app=\"x\"} |= \"a\" | json"`}},
		{"buildinfo", "/loki/api/v1/status/buildinfo", nil, 200, []string{`"version":"3.7.0"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.get(t, tc.path, tc.params)
			if code != tc.code {
				t.Fatalf("status %d: %s", code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %s in %s", w, body)
				}
			}
		})
	}
}

func TestTail(t *testing.T) {
	f := newFixture(t)
	f.add(t, "cart", "info", "old line", base.Add(time.Minute))
	u := strings.Replace(f.srv.URL, "http", "ws", 1) + "/loki/api/v1/tail?" + url.Values{
		"query": {`{app="cart"} |= "line"`}, "start": {fmt.Sprint(base.UnixNano())},
	}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := func() tailMessage {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m tailMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return m
	}
	m := read()
	if len(m.Streams) != 1 || m.Streams[0].Values[0][1] != "old line" || m.Streams[0].Stream["app"] != "cart" {
		t.Fatalf("first message %+v", m)
	}
	f.add(t, "cart", "info", "new line", base.Add(2*time.Minute))
	f.add(t, "cart", "info", "filtered out", base.Add(2*time.Minute))
	m = read()
	if len(m.Streams) != 1 || len(m.Streams[0].Values) != 1 || m.Streams[0].Values[0][1] != "new line" {
		t.Fatalf("second message %+v", m)
	}
}

func TestCountFastPathMatchesEngine(t *testing.T) {
	f := newFixture(t)
	for i := range 400 {
		f.add(t, []string{"cart", "shop", "web"}[i%3], []string{"info", "error", "", "warn"}[i%4], fmt.Sprintf("line %d status=%d", i, 200+i%3*100), base.Add(time.Duration(i)*1300*time.Millisecond))
	}
	rng := func(q, step string) url.Values {
		return url.Values{"query": {q}, "step": {step}, "start": {fmt.Sprint(base.UnixNano())}, "end": {fmt.Sprint(base.Add(10 * time.Minute).UnixNano())}}
	}
	for _, tc := range []struct {
		path   string
		params url.Values
	}{
		{"/loki/api/v1/query_range", rng(`sum by (level) (count_over_time({app=~".+"}[1m]))`, "60")},
		{"/loki/api/v1/query_range", rng(`sum by (app) (count_over_time({app=~".+"} |= "status=300" [2m]))`, "30s")},
		{"/loki/api/v1/query_range", rng(`sum(rate({app="web"} != "status=200" | level="error" [1m]))`, "20")},
		{"/loki/api/v1/query_range", rng(`sum by (level) (count_over_time({app="cart"}[45s]))`, "60")}, // not tiling: engine
		{"/loki/api/v1/query", url.Values{"query": {`sum by (level) (count_over_time({app=~".+"}[5m]))`}, "time": {fmt.Sprint(base.Add(7 * time.Minute).Unix())}}},
	} {
		code, fast := f.get(t, tc.path, tc.params)
		_, slow := f.get(t, tc.path, tc.params) // warm
		resp, err := http.Get(f.slow.URL + tc.path + "?" + tc.params.Encode())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow = string(b)
		if code != 200 || resultOf(t, fast) != resultOf(t, slow) {
			t.Errorf("%s:\nfast %s\nslow %s", tc.params.Get("query"), resultOf(t, fast), resultOf(t, slow))
		}
		if !strings.Contains(slow, `"values"`) && !strings.Contains(slow, `"value"`) {
			t.Errorf("%s: empty answer, the comparison proves nothing: %s", tc.params.Get("query"), slow)
		}
	}
}

func TestCountFastPathTakesDashboardShapes(t *testing.T) {
	f := newFixture(t)
	schema, _ := logstore.NewSchema(logstore.Options{})
	eng, _ := logql.NewEngine(&logstore.Source{R: f.st, Schema: schema}, logql.DefaultOptions())
	api, _ := New(Options{Engine: eng, Index: f.st, Counter: &logstore.Source{R: f.st, Schema: schema}})
	p := logql.Params{Start: base, End: base.Add(time.Hour), Step: time.Minute}
	for q, want := range map[string]bool{
		`sum by (level) (count_over_time({app="x"} |= "a" [1m]))`: true,
		`sum(rate({app="x"} | level="error" [5m]))`:               true,
		`count_over_time({app="x"}[1m])`:                          false, // keeps all labels
		`sum by (level) (count_over_time({app="x"} | json [1m]))`: false,
		`sum by (a, b) (count_over_time({app="x"}[1m]))`:          false,
		`sum by (level) (count_over_time({app="x"}[90s]))`:        false, // windows do not tile
	} {
		expr, err := logql.ParseExpr(q)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := api.fastCount(context.Background(), expr, p)
		if err != nil || ok != want {
			t.Errorf("%s: ok=%v err=%v, want ok=%v", q, ok, err, want)
		}
	}
}

func resultOf(t *testing.T, body string) string {
	var r struct {
		Data struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return string(r.Data.Result)
}
