package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

var base = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) *httptest.Server {
	o := eventstore.DefaultOptions()
	o.Now = func() time.Time { return base.Add(time.Hour) }
	o.Logger = slog.New(slog.DiscardHandler)
	st, err := eventstore.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	schema, _ := logstore.NewSchema(logstore.Options{})
	var rows []model.Event
	for i := range 25 {
		r := schema.NewRecord("", base.Add(time.Duration(i/2)*time.Second).UnixNano()) // pairs share a timestamp
		r.AddString("service.name", "svc")
		r.SetBody(fmt.Sprintf("line %02d", i))
		r.SetSeverity([]string{"info", "error"}[i%2])
		rows = append(rows, r.Event())
	}
	if err := st.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	src := &logstore.Source{R: st, Schema: schema}
	eng, _ := logql.NewEngine(src, logql.DefaultOptions())
	api, err := New(Options{Engine: eng, Hits: st, Source: src, Now: func() time.Time { return base.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string, v url.Values, out any) int {
	resp, err := http.Get(u + "?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func TestQueryPagesWithCursor(t *testing.T) {
	srv := setup(t)
	for _, dir := range []string{"backward", "forward"} {
		seen := map[string]int{}
		var order []string
		cur := ""
		for page := 0; page < 20; page++ {
			var resp struct {
				Data struct {
					Rows []Row  `json:"rows"`
					Next string `json:"next_cursor"`
				} `json:"data"`
			}
			v := url.Values{"query": {`{service_name="svc"}`}, "limit": {"4"}, "direction": {dir}, "start": {fmt.Sprint(base.UnixNano())}}
			if cur != "" {
				v.Set("cursor", cur)
			}
			if code := get(t, srv.URL+"/api/v1/logs/query", v, &resp); code != 200 {
				t.Fatalf("status %d", code)
			}
			for _, r := range resp.Data.Rows {
				seen[r.Line]++
				order = append(order, r.Line)
			}
			if cur = resp.Data.Next; cur == "" {
				break
			}
		}
		if len(seen) != 25 {
			t.Fatalf("%s: saw %d distinct lines, want 25: %v", dir, len(seen), order)
		}
		for l, n := range seen {
			if n != 1 {
				t.Errorf("%s: %s returned %d times", dir, l, n)
			}
		}
	}
}

func TestHits(t *testing.T) {
	srv := setup(t)
	var resp struct {
		Data struct {
			Groups []HitsSeries `json:"groups"`
			Total  int64        `json:"total"`
		} `json:"data"`
	}
	v := url.Values{"query": {`{service_name="svc"} != "line 00"`}, "field": {"level"}, "step": {"5s"}, "start": {fmt.Sprint(base.UnixNano())}, "end": {fmt.Sprint(base.Add(15 * time.Second).UnixNano())}}
	if code := get(t, srv.URL+"/api/v1/logs/hits", v, &resp); code != 200 {
		t.Fatalf("status %d", code)
	}
	got := fmt.Sprint(resp.Data.Groups)
	// Seconds 0-4 hold lines 0-9, 5-9 lines 10-19, 10-12 lines 20-24; line 00 excluded.
	want := "[{error [5 5 2] 12} {info [4 5 3] 12}]"
	if got != want || resp.Data.Total != 24 {
		t.Fatalf("got %s total %d, want %s", got, resp.Data.Total, want)
	}
	var e errorBody
	v.Set("query", `{service_name="svc"} | json`)
	if code := get(t, srv.URL+"/api/v1/logs/hits", v, &e); code != 400 || !strings.Contains(e.Error, "hits supports") {
		t.Fatalf("%d %+v", code, e)
	}
}
