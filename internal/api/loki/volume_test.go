package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sightline/sightline/internal/model"
)

type volumeResponse struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// addEnv stores one line of the given byte size in stream {app, env}.
func (f *fixture) addEnv(t *testing.T, tenant, app, env string, size int, at time.Time) {
	t.Helper()
	r := f.schema.NewRecord(tenant, at.UnixNano())
	r.AddStreamLabel("app", app)
	if env != "" {
		r.AddStreamLabel("env", env)
	}
	r.SetBody(strings.Repeat("x", size))
	if err := f.st.Append(context.Background(), []model.Event{r.Event()}); err != nil {
		t.Fatal(err)
	}
}

func TestVolume(t *testing.T) {
	f := newFixture(t)
	// cart/prod: 3 lines of 100 B; cart/dev: 1 of 40 B; shop/prod: 2 of 10 B.
	for i := range 3 {
		f.addEnv(t, "", "cart", "prod", 100, base.Add(time.Duration(i)*time.Minute))
	}
	f.addEnv(t, "", "cart", "dev", 40, base.Add(time.Minute))
	f.addEnv(t, "", "shop", "prod", 10, base.Add(time.Minute))
	f.addEnv(t, "", "shop", "prod", 10, base.Add(5*time.Minute))
	rng := url.Values{"start": {fmt.Sprint(base.UnixNano())}, "end": {fmt.Sprint(base.Add(10 * time.Minute).UnixNano())}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range rng {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	volumes := func(t *testing.T, path string, p url.Values) (string, []string) {
		t.Helper()
		code, body := f.get(t, path, p)
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		var vr volumeResponse
		if err := json.Unmarshal([]byte(body), &vr); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var got []string
		for _, r := range vr.Data.Result {
			if vr.Data.ResultType == "vector" {
				got = append(got, fmt.Sprintf("%v=%v", r.Metric, r.Value[1]))
				continue
			}
			var pts []string
			for _, v := range r.Values {
				pts = append(pts, fmt.Sprintf("%v", v[1]))
			}
			got = append(got, fmt.Sprintf("%v=%s", r.Metric, strings.Join(pts, ",")))
		}
		return vr.Data.ResultType, got
	}
	for _, tc := range []struct {
		name, path string
		params     url.Values
		wantType   string
		want       []string
	}{
		{"by selector labels, largest first", "/loki/api/v1/index/volume", with("query", `{app=~".+", env=~".+"}`), "vector",
			[]string{"map[app:cart env:prod]=300", "map[app:cart env:dev]=40", "map[app:shop env:prod]=20"}},
		{"target labels", "/loki/api/v1/index/volume", with("query", `{app=~".+", env!="dev"}`, "targetLabels", "app"), "vector",
			[]string{"map[app:cart]=300", "map[app:shop]=20"}},
		{"limit", "/loki/api/v1/index/volume", with("query", `{app=~".+"}`, "limit", "1"), "vector",
			[]string{"map[app:cart]=340"}},
		{"aggregate by labels", "/loki/api/v1/index/volume", with("query", `{app=~".+"}`, "aggregateBy", "labels"), "vector",
			[]string{"map[app:]=360", "map[env:]=360"}},
		{"range", "/loki/api/v1/index/volume_range", with("query", `{app="shop"}`, "step", "5m"), "matrix",
			[]string{"map[app:shop]=10,10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, got := volumes(t, tc.path, tc.params)
			if typ != tc.wantType || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %s %v, want %s %v", typ, got, tc.wantType, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{
		{"no query", rng, "query parameter is required"},
		{"bad aggregateBy", with("query", `{app="cart"}`, "aggregateBy", "streams"), "invalid aggregateBy"},
		{"bad step", with("query", `{app="cart"}`, "step", "-1s"), "invalid step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.get(t, "/loki/api/v1/index/volume_range", tc.params)
			if code != 400 || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d %q, want 400 %q", code, body, tc.want)
			}
		})
	}
	// index/stats estimates bytes from the sampled line sizes: exact here.
	code, body := f.get(t, "/loki/api/v1/index/stats", with("query", `{app="cart"}`))
	if code != 200 || !strings.Contains(body, `"bytes":340`) || !strings.Contains(body, `"entries":4`) {
		t.Fatalf("stats %d %s", code, body)
	}
}

func TestVolumeIsPerTenant(t *testing.T) {
	f := newFixture(t)
	f.addEnv(t, "team-a", "cart", "", 50, base.Add(time.Minute))
	f.addEnv(t, "", "cart", "", 7, base.Add(time.Minute))
	p := url.Values{"query": {`{app="cart"}`}, "start": {fmt.Sprint(base.UnixNano())}, "end": {fmt.Sprint(base.Add(10 * time.Minute).UnixNano())}}
	code, body := f.get(t, "/loki/api/v1/index/volume", p)
	if code != 200 || !strings.Contains(body, `"7"`) || strings.Contains(body, `"50"`) {
		t.Fatalf("default tenant sees %d %s", code, body)
	}
}

func TestTailTenantFromURL(t *testing.T) {
	f := newFixture(t)
	f.addEnv(t, "team-a", "cart", "", 5, base.Add(time.Minute))
	f.addEnv(t, "", "cart", "", 9, base.Add(time.Minute))
	u := strings.Replace(f.srv.URL, "http", "ws", 1) + "/loki/api/v1/tail?" + url.Values{
		"query": {`{app="cart"}`}, "start": {fmt.Sprint(base.UnixNano())}, "tenant": {"team-a"},
	}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m tailMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Streams) != 1 || len(m.Streams[0].Values) != 1 || m.Streams[0].Values[0][1] != "xxxxx" {
		t.Fatalf("tail with tenant=team-a got %s", b)
	}
}
