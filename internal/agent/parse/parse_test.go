package parse

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/agent/tail"
)

func TestParseCRI(t *testing.T) {
	cases := []struct {
		in      string
		ok      bool
		stream  string
		partial bool
		msg     string
	}{
		{"2024-01-02T03:04:05.123456789Z stdout F hello world", true, "stdout", false, "hello world"},
		{"2024-01-02T03:04:05Z stderr P part", true, "stderr", true, "part"},
		{"2024-01-02T03:04:05+02:00 stdout F", true, "stdout", false, ""},
		{"2024-01-02T03:04:05Z stdout F:extra msg", true, "stdout", false, "msg"},
		{"2024-01-02T03:04:05Z stdin F x", false, "", false, ""},
		{"notatime stdout F x", false, "", false, ""},
		{"2024-01-02T03:04:05Z stdout X x", false, "", false, ""},
		{"", false, "", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			cl, err := ParseCRI([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if tc.ok && (cl.Stream != tc.stream || cl.Partial != tc.partial || string(cl.Msg) != tc.msg || cl.Time.IsZero()) {
				t.Fatalf("got %+v", cl)
			}
		})
	}
}

func TestParseDocker(t *testing.T) {
	cl, err := ParseDocker([]byte(`{"log":"hello \"x\"\n","stream":"stderr","time":"2024-01-02T03:04:05.5Z"}`))
	if err != nil || cl.Partial || string(cl.Msg) != `hello "x"` || cl.Stream != "stderr" || cl.Time.Nanosecond() != 5e8 {
		t.Fatalf("%+v %v", cl, err)
	}
	cl, err = ParseDocker([]byte(`{"log":"part","stream":"stdout","time":"2024-01-02T03:04:05Z"}`))
	if err != nil || !cl.Partial {
		t.Fatalf("%+v %v", cl, err)
	}
	for _, bad := range []string{`{"stream":"stdout"}`, `{"log":1}`, `{`, `{"log":"x","time":"yesterday"}`} {
		if _, err := ParseDocker([]byte(bad)); err == nil {
			t.Errorf("%s: want error", bad)
		}
	}
}

func TestPodFromPath(t *testing.T) {
	m, ok := PodFromPath("/var/log/pods/shop_cart-7d9f_0a1b-uid/cart/3.log")
	if !ok || m.Namespace != "shop" || m.Pod != "cart-7d9f" || m.UID != "0a1b-uid" || m.Container != "cart" || m.Restart != "3" {
		t.Fatalf("%+v %v", m, ok)
	}
	m, ok = PodFromPath("/var/log/containers/cart-7d9f_shop_cart-0123abcd.log")
	if !ok || m.Namespace != "shop" || m.Pod != "cart-7d9f" || m.Container != "cart" {
		t.Fatalf("%+v %v", m, ok)
	}
	for _, p := range []string{"/var/log/app.log", "/var/log/pods/bad/cart/0.log", "/var/log/pods/a_b_c/0.log"} {
		if _, ok := PodFromPath(p); ok {
			t.Errorf("%s: want no metadata", p)
		}
	}
}

func joinAll(t *testing.T, o MultilineOptions, lines ...string) []string {
	t.Helper()
	j, err := NewJoiner(o)
	if err != nil {
		t.Fatal(err)
	}
	var out []Joined
	now := time.Unix(0, 0)
	for i, l := range lines {
		out = j.Add(out, []byte(l), int64(i+1), now)
	}
	out = j.Flush(out)
	var got []string
	for i, r := range out {
		got = append(got, string(r.Text))
		if i == len(out)-1 && r.Offset != int64(len(lines)) {
			t.Fatalf("last record offset %d, want %d", r.Offset, len(lines))
		}
	}
	return got
}

func TestMultiline(t *testing.T) {
	def := DefaultMultilineOptions()
	cases := []struct {
		name  string
		opts  MultilineOptions
		lines []string
		want  []string
	}{
		{"java", def, []string{
			"2024-01-02 10:00:00 ERROR boom",
			"java.lang.IllegalStateException: bad",
			"\tat com.x.Y.z(Y.java:10)",
			"Caused by: java.io.IOException: io",
			"\t... 3 more",
			"2024-01-02 10:00:01 INFO next",
		}, []string{
			"2024-01-02 10:00:00 ERROR boom\njava.lang.IllegalStateException: bad\n\tat com.x.Y.z(Y.java:10)\nCaused by: java.io.IOException: io\n\t... 3 more",
			"2024-01-02 10:00:01 INFO next",
		}},
		{"python", def, []string{
			"Traceback (most recent call last):",
			`  File "a.py", line 1, in <module>`,
			"    f()",
			"ValueError: nope",
			"plain line",
		}, []string{
			"Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    f()\nValueError: nope",
			"plain line",
		}},
		{"go panic", def, []string{
			"panic: runtime error: index out of range",
			"",
			"goroutine 1 [running]:",
			"main.main()",
			"\t/src/main.go:8 +0x1d",
			"2024-01-02T10:00:00Z restarted",
		}, []string{
			"panic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:8 +0x1d",
			"2024-01-02T10:00:00Z restarted",
		}},
		{"custom start", MultilineOptions{StartPattern: `^BEGIN`, MaxLines: 10, MaxBytes: 100, FlushTimeout: time.Second}, []string{
			"BEGIN a", "x", "y", "BEGIN b", "z",
		}, []string{"BEGIN a\nx\ny", "BEGIN b\nz"}},
		{"max lines", MultilineOptions{MaxLines: 2, MaxBytes: 100, FlushTimeout: time.Second}, []string{
			"a", " 1", " 2", " 3",
		}, []string{"a\n 1", " 2\n 3"}},
		{"disabled", MultilineOptions{Disabled: true, MaxLines: 2, MaxBytes: 100, FlushTimeout: time.Second}, []string{
			"a", " 1",
		}, []string{"a", " 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := joinAll(t, tc.opts, tc.lines...)
			if strings.Join(got, "¶") != strings.Join(tc.want, "¶") {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestMultilineFlushTimeout(t *testing.T) {
	j, _ := NewJoiner(DefaultMultilineOptions())
	t0 := time.Unix(100, 0)
	out := j.Add(nil, []byte("Exception"), 10, t0)
	out = j.Add(out, []byte("\tat x"), 20, t0)
	if out = j.FlushExpired(out, t0.Add(500*time.Millisecond)); len(out) != 0 {
		t.Fatal("flushed too early")
	}
	out = j.FlushExpired(out, t0.Add(time.Second))
	if len(out) != 1 || out[0].Lines != 2 || out[0].Offset != 20 || j.Pending() {
		t.Fatalf("%+v", out)
	}
}

func TestParseLogfmt(t *testing.T) {
	f, err := ParseLogfmt([]byte(`ts=2024-01-02T03:04:05Z level=warn msg="a \"quoted\" msg" dur=3ms flag`))
	if err != nil {
		t.Fatal(err)
	}
	want := `ts=2024-01-02T03:04:05Z level=warn msg=a "quoted" msg dur=3ms flag=true`
	var got []string
	for _, x := range f {
		got = append(got, fmt.Sprintf("%s=%v", x.Key, x.Value))
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q", strings.Join(got, " "))
	}
	for _, bad := range []string{"just words", `k="unterminated`, `=v`, `k=a"b`} {
		if _, err := ParseLogfmt([]byte(bad)); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestParseJSONAndTimeLevel(t *testing.T) {
	f, err := ParseJSON([]byte(`{"@timestamp":"2024-01-02T03:04:05.25Z","severity":"ERROR","http":{"status":503,"ok":false},"tags":["a"],"lat":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range f {
		got = append(got, fmt.Sprintf("%s=%v(%T)", x.Key, x.Value, x.Value))
	}
	want := "@timestamp=2024-01-02T03:04:05.25Z(string) severity=ERROR(string) http.status=503(int64) http.ok=false(bool) tags=[\"a\"](string) lat=1.5(float64)"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %s", strings.Join(got, " "))
	}
	ts, lvl := FieldTimeLevel(f)
	if !ts.Equal(time.Date(2024, 1, 2, 3, 4, 5, 250e6, time.UTC)) || lvl != "ERROR" {
		t.Fatalf("%v %q", ts, lvl)
	}
	for in, want := range map[string]time.Time{
		`{"ts":1704164645}`:                       time.Unix(1704164645, 0),
		`{"ts":1704164645123}`:                    time.UnixMilli(1704164645123),
		`{"time":"1704164645.5"}`:                 time.Unix(1704164645, 5e8),
		`{"timestamp":"2024-01-02 03:04:05,123"}`: time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC),
	} {
		f, err := ParseJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if ts, _ := FieldTimeLevel(f); !ts.Equal(want) {
			t.Errorf("%s: %v want %v", in, ts, want)
		}
	}
	if _, err := ParseJSON([]byte(`{"a":1} x`)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestTextTimeLevel(t *testing.T) {
	cases := []struct {
		in    string
		ts    time.Time
		level string
	}{
		{"2024-01-02T03:04:05.5Z ERROR failed", time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC), "ERROR"},
		{"[2024-01-02 03:04:05] [warn] x WARN", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "WARN"},
		{"no time here level=debug", time.Time{}, "debug"},
		{"nothing at all", time.Time{}, ""},
	}
	for _, tc := range cases {
		ts, l := TextTimeLevel([]byte(tc.in))
		if !ts.Equal(tc.ts) || l != tc.level {
			t.Errorf("%q: got %v %q", tc.in, ts, l)
		}
	}
}

type collected struct{ recs []*Record }

func (c *collected) emit(r *Record) { c.recs = append(c.recs, r) }

func chunk(src *tail.Source, closed bool, lines ...string) tail.Chunk {
	c := tail.Chunk{Source: src, Closed: closed}
	var off int64
	for _, l := range lines {
		off += int64(len(l)) + 1
		c.Lines = append(c.Lines, tail.Line{Text: []byte(l), Offset: off})
	}
	c.Offset = off
	return c
}

func TestProcessorCRIPartialsAndStackTraces(t *testing.T) {
	o := DefaultOptions()
	o.Labels = map[string]string{"service": "cart", "env": "prod"}
	p, err := NewProcessor(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &tail.Source{ID: 1, Path: "/var/log/pods/shop_cart-1_uid/cart/0.log"}
	var c collected
	p.Process(chunk(src, false,
		"2024-01-02T03:04:05Z stdout P {\"level\":\"error\",",
		"2024-01-02T03:04:06Z stderr F Exception in thread main",
		"2024-01-02T03:04:05Z stdout F \"msg\":\"joined\"}",
		"2024-01-02T03:04:07Z stderr F \tat a.b(C.java:1)",
	), c.emit)
	p.Process(chunk(src, true), c.emit)
	var bodies []string
	for _, r := range c.recs {
		if !r.Closed {
			bodies = append(bodies, r.Stream+":"+r.Body)
		}
	}
	// Streams are joined independently; their relative order is not defined.
	slices.Sort(bodies)
	want := []string{"stderr:Exception in thread main\n\tat a.b(C.java:1)", `stdout:{"level":"error","msg":"joined"}`}
	if strings.Join(bodies, "¶") != strings.Join(want, "¶") {
		t.Fatalf("got %q", bodies)
	}
	r := c.recs[1]
	if r.Severity != SevError || r.Time.IsZero() {
		t.Fatalf("record %+v", r)
	}
	res := map[string]string{}
	for _, a := range r.Meta.Resource {
		res[a.Key] = a.Value
	}
	if res["k8s.namespace.name"] != "shop" || res["k8s.pod.name"] != "cart-1" || res["service.name"] != "cart" || res["env"] != "prod" {
		t.Fatalf("resource %v", res)
	}
	if last := c.recs[len(c.recs)-1]; !last.Closed {
		t.Fatal("no closed marker")
	}
}

func TestProcessorDockerSplitLines(t *testing.T) {
	p, _ := NewProcessor(DefaultOptions(), nil)
	src := &tail.Source{ID: 1, Path: "/var/log/containers/a_b_c-123.log"}
	big := strings.Repeat("x", 16384)
	var c collected
	p.Process(chunk(src, false,
		`{"log":"`+big+`","stream":"stdout","time":"2024-01-02T03:04:05Z"}`,
		`{"log":"tail\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}`,
	), c.emit)
	p.FlushAll(c.emit)
	if len(c.recs) != 1 || c.recs[0].Body != big+"tail" {
		t.Fatalf("got %d records", len(c.recs))
	}
}

func TestProcessorFiltersKeepOffsets(t *testing.T) {
	o := DefaultOptions()
	o.Multiline.Disabled = true
	o.Filters = []FilterRule{{Action: "drop", Regex: "healthz"}, {Action: "keep", Field: "level", Regex: "^(warn|error)$"}}
	p, err := NewProcessor(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var c collected
	p.Process(chunk(&tail.Source{ID: 1, Path: "/a.log"}, false,
		"level=error msg=GET /healthz", "level=info msg=x", "level=warn msg=y"), c.emit)
	var got []string
	for _, r := range c.recs {
		got = append(got, fmt.Sprintf("%v@%d", r.Drop, r.Offset))
	}
	if strings.Join(got, " ") != "true@29 true@46 false@63" {
		t.Fatalf("got %v", got)
	}
	bad := DefaultOptions()
	bad.Filters = []FilterRule{{Action: "maybe", Regex: "x"}}
	if _, err := NewProcessor(bad, nil); err == nil {
		t.Fatal("bad action accepted")
	}
}

func TestProcessorCommitOffsetWaitsForOtherStream(t *testing.T) {
	o := DefaultOptions()
	o.Multiline.Disabled = true
	p, _ := NewProcessor(o, nil)
	src := &tail.Source{ID: 1, Path: "/var/log/pods/a_b_c/d/0.log"}
	var c collected
	l1 := "2024-01-02T03:04:05Z stderr P held "
	l2 := "2024-01-02T03:04:05Z stdout F done"
	l3 := "2024-01-02T03:04:05Z stderr F end"
	p.Process(chunk(src, false, l1, l2), c.emit)
	if len(c.recs) != 1 || c.recs[0].Body != "done" || c.recs[0].Offset != 0 {
		t.Fatalf("stdout record must not commit past the held stderr line: %+v", c.recs)
	}
	p.Process(tail.Chunk{Source: src, Start: int64(len(l1) + len(l2) + 2), Lines: []tail.Line{{Text: []byte(l3), Offset: int64(len(l1) + len(l2) + len(l3) + 3)}}}, c.emit)
	if len(c.recs) != 2 || c.recs[1].Body != "held end" || c.recs[1].Offset != int64(len(l1)+len(l2)+len(l3)+3) {
		t.Fatalf("%+v", c.recs[1])
	}
}

type fakePods map[string]*PodInfo

func (f fakePods) LookupPod(ns, name, uid string) *PodInfo { return f[ns+"/"+name] }

func TestMetaServiceName(t *testing.T) {
	pods := fakePods{"shop/cart-1": {UID: "u-api", Node: "n1", Labels: map[string]string{"app": "cart-app", "tier": "web"}, Service: "cart-app"}}
	cases := []struct {
		name   string
		labels map[string]string
		pods   PodLookup
		path   string
		want   map[string]string // resource attributes that must be present ("" = absent)
	}{
		{"service label", map[string]string{"service": "shop"}, nil, "/var/log/app.log", map[string]string{"service.name": "shop", "service": ""}},
		{"service_name label", map[string]string{"service_name": "shop"}, nil, "/var/log/app.log", map[string]string{"service.name": "shop", "service_name": ""}},
		{"service.name beats aliases", map[string]string{"service": "a", "service.name": "b", "service_name": "c"}, nil, "/var/log/app.log", map[string]string{"service.name": "b"}},
		{"label beats container", map[string]string{"service_name": "shop"}, nil, "/var/log/pods/shop_cart-1_uid/cart/0.log", map[string]string{"service.name": "shop", "k8s.container.name": "cart"}},
		{"container without labels", nil, nil, "/var/log/pods/shop_cart-1_uid/cart/0.log", map[string]string{"service.name": "cart", "k8s.pod.uid": "uid"}},
		{"pod labels from API", nil, pods, "/var/log/pods/shop_cart-1_uid/cart/0.log", map[string]string{"service.name": "cart-app", "k8s.node.name": "n1", "k8s.pod.label.tier": "web", "k8s.pod.uid": "u-api"}},
		{"unknown pod keeps path metadata", nil, pods, "/var/log/pods/shop_other_uid/c/0.log", map[string]string{"service.name": "c", "k8s.pod.name": "other", "k8s.node.name": ""}},
		{"no service at all", map[string]string{"env": "prod"}, nil, "/var/log/app.log", map[string]string{"env": "prod", "service.name": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Labels, o.Pods = tc.labels, tc.pods
			p, err := NewProcessor(o, nil)
			if err != nil {
				t.Fatal(err)
			}
			res := map[string]string{}
			for _, a := range p.meta(tc.path).Resource {
				res[a.Key] = a.Value
			}
			for k, v := range tc.want {
				if got, ok := res[k]; v == "" && ok || v != "" && got != v {
					t.Errorf("%s = %q (present %v), want %q; all %v", k, got, ok, v, res)
				}
			}
		})
	}
}
