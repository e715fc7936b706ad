package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// A target serving a fixed exposition is scraped per scrape_configs, with
// relabeling applied and per-target health series recorded.
func TestScrapeStaticTargetAndQueryBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE shop_orders_total counter\nshop_orders_total{status=\"paid\"} 42\nshop_orders_total{status=\"failed\"} 3\n# TYPE shop_queue_depth gauge\nshop_queue_depth 7.5\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	cfg := filepath.Join(t.TempDir(), "sightline.yml")
	writeFile(t, cfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 500ms
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: [%q]
        labels: {env: test}
    metric_relabel_configs:
      - source_labels: [status]
        regex: failed
        action: drop
`, ln.Addr().String()))
	s := StartServer(t, "--config", cfg)

	Eventually(t, 30*time.Second, func() error {
		v := s.Query(`shop_orders_total`, time.Now())
		if len(v) != 1 {
			return fmt.Errorf("want 1 series (failed dropped by relabeling), got %v", v)
		}
		if v[0].Metric["status"] != "paid" || v[0].Metric["env"] != "test" || v[0].Metric["job"] != "shop" || v[0].Metric["instance"] != ln.Addr().String() {
			return fmt.Errorf("labels: %v", v[0].Metric)
		}
		if v[0].Value[1] != "42" {
			return fmt.Errorf("value %v", v[0].Value)
		}
		return nil
	})
	for q, want := range map[string]string{
		`shop_queue_depth`:                                  "7.5",
		`up{job="shop"}`:                                    "1",
		`scrape_samples_scraped{job="shop"}`:                "3",
		`scrape_samples_post_metric_relabeling{job="shop"}`: "2",
	} {
		v := s.Query(q, time.Now())
		if len(v) != 1 || v[0].Value[1] != want {
			t.Errorf("%s = %v, want %s", q, v, want)
		}
	}
	if v := s.Query(`scrape_duration_seconds{job="shop"}`, time.Now()); len(v) != 1 {
		t.Errorf("scrape_duration_seconds missing: %v", v)
	}
	// The default self-scrape job sees sightline's own metrics.
	Eventually(t, 40*time.Second, func() error {
		if v := s.Query(`up{job="sightline"}`, time.Now()); len(v) != 1 || v[0].Value[1] != "1" {
			return fmt.Errorf("self-scrape up = %v", v)
		}
		return nil
	})
	// Targets API in Prometheus' shape.
	code, r := s.Get("/api/v1/targets", nil)
	if code != 200 || !strings.Contains(string(r.Data), `"scrapePool":"shop"`) || !strings.Contains(string(r.Data), `"health":"up"`) {
		t.Errorf("targets: %d %s", code, r.Data)
	}
	// A target that goes away turns up to 0.
	srv.Close()
	Eventually(t, 20*time.Second, func() error {
		if v := s.Query(`up{job="shop"}`, time.Now()); len(v) != 1 || v[0].Value[1] != "0" {
			return fmt.Errorf("up after target died = %v", v)
		}
		return nil
	})
}

// A file_sd target list is picked up, and changing the file changes targets.
func TestScrapeFileDiscovery(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "file_sd_metric 1\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "targets.json"), fmt.Sprintf(`[{"targets":[%q],"labels":{"team":"payments"}}]`, ln.Addr().String()))
	writeFile(t, filepath.Join(dir, "sightline.yml"), "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n  - job_name: filesd\n    file_sd_configs:\n      - files: [targets.json]\n        refresh_interval: 1s\n")
	s := StartServer(t, "--config", filepath.Join(dir, "sightline.yml"))
	Eventually(t, 30*time.Second, func() error {
		v := s.Query(`file_sd_metric{team="payments",job="filesd"}`, time.Now())
		if len(v) != 1 {
			return fmt.Errorf("got %v", v)
		}
		return nil
	})
}

// Samples sent with remote_write 1.0 are read back exactly, and bad
// requests get the statuses Prometheus senders expect.
func TestRemoteWriteRoundTrip(t *testing.T) {
	s := StartServer(t)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var req prompb.WriteRequest
	want := map[string][]float64{}
	for i := range 5 {
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "rw_test_metric"},
			{Name: "instance", Value: fmt.Sprintf("host-%d", i)},
			{Name: "job", Value: "rw"},
		}}
		for j := range 60 {
			v := float64(i*1000 + j)
			ts.Samples = append(ts.Samples, prompb.Sample{Value: v, Timestamp: base.Add(time.Duration(j) * 10 * time.Second).UnixMilli()})
			want[fmt.Sprintf("host-%d", i)] = append(want[fmt.Sprintf("host-%d", i)], v)
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	if code, body := postRemoteWrite(t, s.URL, &req); code != http.StatusNoContent {
		t.Fatalf("remote write: %d %s", code, body)
	}
	// Read every sample back through query_range at the exact timestamps.
	end := base.Add(59 * 10 * time.Second)
	code, r := s.Get("/api/v1/query_range", url.Values{
		"query": {`rw_test_metric`}, "start": {unix(base)}, "end": {unix(end)}, "step": {"10s"},
	})
	if code != 200 {
		t.Fatalf("query_range: %d %s", code, r.Error)
	}
	got := decodeMatrix(t, r.Data)
	if len(got) != 5 {
		t.Fatalf("want 5 series, got %d", len(got))
	}
	for inst, vals := range want {
		if fmt.Sprint(got[inst]) != fmt.Sprint(vals) {
			t.Errorf("%s: got %v want %v", inst, got[inst], vals)
		}
	}
	// series / labels / label values APIs see them.
	code, r = s.Get("/api/v1/label/instance/values", url.Values{"match[]": {"rw_test_metric"}})
	if code != 200 || string(r.Data) != `["host-0","host-1","host-2","host-3","host-4"]` {
		t.Errorf("label values: %d %s", code, r.Data)
	}
	code, r = s.Get("/api/v1/series", url.Values{"match[]": {`rw_test_metric{instance="host-3"}`}, "start": {unix(base)}})
	if code != 200 || !strings.Contains(string(r.Data), `"instance":"host-3"`) || strings.Contains(string(r.Data), "host-2") {
		t.Errorf("series: %d %s", code, r.Data)
	}

	// Out-of-order samples: 400 so the sender does not retry forever.
	old := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  req.Timeseries[0].Labels,
		Samples: []prompb.Sample{{Value: 1, Timestamp: base.Add(-time.Hour).UnixMilli()}},
	}}}
	if code, body := postRemoteWrite(t, s.URL, &old); code != http.StatusBadRequest {
		t.Errorf("out-of-order sample: want 400, got %d %s", code, body)
	}
	// Garbage: 400 naming the problem.
	for name, body := range map[string][]byte{
		"not snappy":          []byte("this is not snappy"),
		"snappy of garbage":   snappy.Encode(nil, []byte("\xff\xff\xff garbage protobuf")),
		"claims 4GB unpacked": {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00},
		"empty":               {},
	} {
		resp, err := http.Post(s.URL+"/api/v1/write", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			if !(name == "empty" && resp.StatusCode == http.StatusNoContent) {
				t.Errorf("%s: want 4xx, got %d %s", name, resp.StatusCode, b)
			}
		}
	}
	// Oversized body: 413 and the server keeps serving.
	big := bytes.Repeat([]byte{'x'}, 70<<20)
	resp, err := http.Post(s.URL+"/api/v1/write", "application/x-protobuf", bytes.NewReader(big))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body: want 413, got %d", resp.StatusCode)
		}
	}
	if v := s.Query(`count(rw_test_metric)`, end); len(v) != 1 || v[0].Value[1] != "5" {
		t.Errorf("server not serving after bad input: %v", v)
	}
}

// Acknowledged remote-write samples survive kill -9.
func TestRemoteWriteSurvivesKill9(t *testing.T) {
	s := StartServer(t)
	now := time.Now().Truncate(time.Second)
	req := prompb.WriteRequest{}
	for i := range 100 {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "durable"}, {Name: "i", Value: strconv.Itoa(i)}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: now.UnixMilli()}},
		})
	}
	if code, body := postRemoteWrite(t, s.URL, &req); code != http.StatusNoContent {
		t.Fatalf("remote write: %d %s", code, body)
	}
	s.Kill()
	s.Restart()
	v := s.Query(`sum(durable)`, now)
	if len(v) != 1 || v[0].Value[1] != "4950" {
		t.Fatalf("after kill -9: sum(durable) = %v, want 4950", v)
	}
	if v := s.Query(`count(durable)`, now); len(v) != 1 || v[0].Value[1] != "100" {
		t.Fatalf("after kill -9: count(durable) = %v, want 100", v)
	}
}

func postRemoteWrite(t *testing.T, base string, req *prompb.WriteRequest) (int, string) {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest("POST", base+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// otlpMetrics builds one batch with every OTLP metric type.
func otlpMetrics(service string, now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	rm.Resource().Attributes().PutStr("service.instance.id", "pod-1")
	rm.Resource().Attributes().PutStr("deployment.environment", "prod")
	sm := rm.ScopeMetrics().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(now)
	start := pcommon.NewTimestampFromTime(now.Add(-time.Minute))

	g := sm.Metrics().AppendEmpty()
	g.SetName("app.temperature")
	g.SetUnit("Cel")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(21.5)
	dp.Attributes().PutStr("room", "kitchen")

	c := sm.Metrics().AppendEmpty()
	c.SetName("http.server.requests")
	c.SetUnit("1")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdp := sum.DataPoints().AppendEmpty()
	sdp.SetStartTimestamp(start)
	sdp.SetTimestamp(ts)
	sdp.SetIntValue(1234)

	h := sm.Metrics().AppendEmpty()
	h.SetName("http.server.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetStartTimestamp(start)
	hdp.SetTimestamp(ts)
	hdp.SetCount(10)
	hdp.SetSum(2.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
	hdp.BucketCounts().FromRaw([]uint64{4, 3, 2, 1})

	e := sm.Metrics().AppendEmpty()
	e.SetName("rpc.latency")
	e.SetUnit("s")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := eh.DataPoints().AppendEmpty()
	edp.SetStartTimestamp(start)
	edp.SetTimestamp(ts)
	edp.SetScale(2)
	edp.SetCount(6)
	edp.SetSum(3.3)
	edp.SetZeroCount(1)
	edp.Positive().SetOffset(0)
	edp.Positive().BucketCounts().FromRaw([]uint64{2, 3})

	su := sm.Metrics().AppendEmpty()
	su.SetName("db.query.time")
	su.SetUnit("ms")
	sdps := su.SetEmptySummary().DataPoints().AppendEmpty()
	sdps.SetStartTimestamp(start)
	sdps.SetTimestamp(ts)
	sdps.SetCount(100)
	sdps.SetSum(2500)
	q := sdps.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(80)

	d := sm.Metrics().AppendEmpty()
	d.SetName("jobs.processed")
	d.SetUnit("1")
	ds := d.SetEmptySum()
	ds.SetIsMonotonic(true)
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i, v := range []int64{5, 3} {
		p := ds.DataPoints().AppendEmpty()
		p.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i-2) * time.Second)))
		p.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i-1) * time.Second)))
		p.SetIntValue(v)
	}
	return md
}

// checkOTLPMetrics asserts the Prometheus translation of otlpMetrics.
func checkOTLPMetrics(t *testing.T, s *Server, service string, at time.Time) {
	t.Helper()
	sel := fmt.Sprintf(`{job=%q,instance="pod-1"}`, service)
	expect := map[string]string{
		`app_temperature_celsius` + sel:                                        "21.5",
		`http_server_requests_total` + sel:                                     "1234",
		`http_server_duration_seconds_count` + sel:                             "10",
		`http_server_duration_seconds_sum` + sel:                               "2.5",
		`http_server_duration_seconds_bucket{le="0.5",job="` + service + `"}`:  "7",
		`http_server_duration_seconds_bucket{le="+Inf",job="` + service + `"}`: "10",
		`db_query_time_milliseconds{quantile="0.99",job="` + service + `"}`:    "80",
		`db_query_time_milliseconds_count` + sel:                               "100",
		`jobs_processed_total` + sel:                                           "8", // deltas 5+3 made cumulative
		`histogram_count(rpc_latency_seconds` + sel + `)`:                      "6",
		`histogram_sum(rpc_latency_seconds` + sel + `)`:                        "3.3",
	}
	for q, want := range expect {
		v := s.Query(q, at)
		if len(v) != 1 || v[0].Value[1] != want {
			t.Errorf("%s = %v, want %s", q, v, want)
		}
	}
	// Resource attributes that are not job/instance land on target_info.
	v := s.Query(`target_info`+sel, at)
	if len(v) != 1 || v[0].Metric["deployment_environment"] != "prod" {
		t.Errorf("target_info = %v", v)
	}
	if v := s.Query(fmt.Sprintf(`app_temperature_celsius{room="kitchen",job=%q}`, service), at); len(v) != 1 {
		t.Errorf("data point attributes not kept as labels: %v", v)
	}
}

func TestOTLPMetricsGRPC(t *testing.T) {
	s := StartServer(t)
	now := time.Now().Truncate(time.Millisecond)
	conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)
	if _, err := client.Export(ctx(t), pmetricotlp.NewExportRequestFromMetrics(otlpMetrics("checkout", now))); err != nil {
		t.Fatal(err)
	}
	checkOTLPMetrics(t, s, "checkout", now)

	// A message over the size limit is refused with RESOURCE_EXHAUSTED.
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(strings.Repeat("x", 70<<20))
	_, err = client.Export(ctx(t), pmetricotlp.NewExportRequestFromMetrics(md))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized gRPC export: want RESOURCE_EXHAUSTED, got %v", err)
	}
}

func TestOTLPMetricsHTTP(t *testing.T) {
	s := StartServer(t)
	now := time.Now().Truncate(time.Millisecond)
	for _, tc := range []struct {
		name, service, contentType string
		gzip                       bool
		base                       string
	}{
		{"protobuf", "cart", "application/x-protobuf", false, s.OTLPHTTP},
		{"protobuf gzip", "catalog", "application/x-protobuf", true, s.OTLPHTTP},
		{"json", "payment", "application/json", false, s.OTLPHTTP},
		{"json gzip on main port", "inventory", "application/json", true, s.URL + "/otlp"},
		{"prometheus path", "gateway", "application/x-protobuf", false, s.URL + "/api/v1/otlp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := pmetricotlp.NewExportRequestFromMetrics(otlpMetrics(tc.service, now))
			var body []byte
			var err error
			if tc.contentType == "application/json" {
				body, err = req.MarshalJSON()
			} else {
				body, err = req.MarshalProto()
			}
			if err != nil {
				t.Fatal(err)
			}
			code, resp := postOTLP(t, tc.base+"/v1/metrics", tc.contentType, body, tc.gzip)
			if code != 200 {
				t.Fatalf("export: %d %s", code, resp)
			}
			checkOTLPMetrics(t, s, tc.service, now)
		})
	}
	// Bad input: clear 4xx, server keeps serving.
	for name, tc := range map[string]struct {
		ct   string
		body []byte
		gz   bool
		want int
	}{
		"garbage protobuf": {"application/x-protobuf", []byte("\x0a\xff\xff\xff\xff garbage"), false, 400},
		"garbage json":     {"application/json", []byte(`{"resourceMetrics": [ {`), false, 400},
		"bad gzip":         {"application/x-protobuf", []byte("not gzip"), true, 400},
		"wrong type":       {"text/plain", []byte("hello"), false, 415},
		"gzip bomb":        {"application/x-protobuf", gzipBytes(bytes.Repeat([]byte{0}, 100<<20)), false, 413},
	} {
		t.Run(name, func(t *testing.T) {
			hr, _ := http.NewRequest("POST", s.OTLPHTTP+"/v1/metrics", bytes.NewReader(tc.body))
			hr.Header.Set("Content-Type", tc.ct)
			if tc.gz || name == "gzip bomb" {
				hr.Header.Set("Content-Encoding", "gzip")
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("want %d, got %d %s", tc.want, resp.StatusCode, b)
			}
		})
	}
	checkOTLPMetrics(t, s, "cart", now)
}

func postOTLP(t *testing.T, u, contentType string, body []byte, gz bool) (int, string) {
	t.Helper()
	if gz {
		body = gzipBytes(body)
	}
	hr, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	hr.Header.Set("Content-Type", contentType)
	if gz {
		hr.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

// decodeMatrix maps each series' instance label to its values.
func decodeMatrix(t *testing.T, data []byte) map[string][]float64 {
	t.Helper()
	var d struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := jsonUnmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, r := range d.Result {
		for _, v := range r.Values {
			f, _ := strconv.ParseFloat(v[1].(string), 64)
			if math.IsNaN(f) {
				continue
			}
			out[r.Metric["instance"]] = append(out[r.Metric["instance"]], f)
		}
	}
	for _, v := range out {
		sort.Float64s(v)
	}
	return out
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
