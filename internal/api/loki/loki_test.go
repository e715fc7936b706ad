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
	api, err := New(Options{Engine: eng, Index: st, TailPoll: 20 * time.Millisecond, Now: func() time.Time { return f.clock }, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux, "")
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
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
