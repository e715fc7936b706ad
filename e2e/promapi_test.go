package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Remote write 2.0 (symbolised labels, metadata) is accepted too.
func TestRemoteWriteV2(t *testing.T) {
	s := StartServer(t)
	now := time.Now().Truncate(time.Second)
	st := writev2.NewSymbolTable()
	var req writev2.Request
	for i := range 3 {
		lbls := labels.FromStrings("__name__", "rw2_requests_total", "path", fmt.Sprintf("/p%d", i))
		req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
			LabelsRefs: st.SymbolizeLabels(lbls, nil),
			Samples:    []writev2.Sample{{Value: float64(10 * (i + 1)), Timestamp: now.UnixMilli()}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("Requests served.")},
		})
	}
	req.Symbols = st.Symbols()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest("POST", s.URL+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	hr.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remote write 2.0: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"); got != "3" {
		t.Errorf("samples-written header = %q, want 3", got)
	}
	if v := s.Query(`sum(rw2_requests_total)`, now); len(v) != 1 || v[0].Value[1] != "60" {
		t.Errorf("sum(rw2_requests_total) = %v, want 60", v)
	}
}

// The API endpoints Grafana and promtool use answer in Prometheus' shapes,
// over GET and POST, with Prometheus' error types.
func TestPrometheusAPIEndpoints(t *testing.T) {
	s := StartServer(t)
	now := time.Now().Truncate(time.Second)
	req := prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{
			Labels:  []prompb.Label{{Name: "__name__", Value: "api_test_metric"}, {Name: "env", Value: "prod"}},
			Samples: []prompb.Sample{{Value: 3, Timestamp: now.UnixMilli()}},
		}},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "api_test_metric", Help: "A test gauge."}},
	}
	if code, body := postRemoteWrite(t, s.URL, &req); code != http.StatusNoContent {
		t.Fatalf("remote write: %d %s", code, body)
	}
	for _, tc := range []struct {
		path   string
		params url.Values
		want   string
	}{
		{"/api/v1/labels", nil, `"env"`},
		{"/api/v1/label/__name__/values", nil, `"api_test_metric"`},
		{"/api/v1/status/buildinfo", nil, `"version"`},
		{"/api/v1/status/config", nil, `scrape_configs`},
		{"/api/v1/status/flags", nil, `"data-dir"`},
		{"/api/v1/status/runtimeinfo", nil, `"storageRetention":"15d"`},
		{"/api/v1/status/tsdb", nil, `"headStats"`},
		{"/api/v1/format_query", url.Values{"query": {"sum(rate(x[5m]))by(job)"}}, `"sum by (job) (rate(x[5m]))"`},
		{"/api/v1/rules", nil, `"groups":[]`},
		{"/api/v1/alerts", nil, `"alerts":[]`},
	} {
		code, r := s.Get(tc.path, tc.params)
		if code != 200 || r.Status != "success" || !strings.Contains(string(r.Data), tc.want) {
			t.Errorf("%s: %d %s %s; want data containing %s", tc.path, code, r.Status, clip(string(r.Data)), tc.want)
		}
	}
	// Scrape pools and metric metadata come from the scrape manager once
	// the self-scrape job has run.
	Eventually(t, 40*time.Second, func() error {
		if code, r := s.Get("/api/v1/scrape_pools", nil); code != 200 || !strings.Contains(string(r.Data), `"sightline"`) {
			return fmt.Errorf("scrape_pools: %d %s", code, r.Data)
		}
		code, r := s.Get("/api/v1/metadata", url.Values{"metric": {"sightline_build_info"}})
		if code != 200 || !strings.Contains(string(r.Data), `"type":"gauge"`) {
			return fmt.Errorf("metadata: %d %s", code, r.Data)
		}
		return nil
	})
	// POST with a form body, as Grafana sends long queries.
	resp, err := http.PostForm(s.URL+"/api/v1/query", url.Values{"query": {`api_test_metric{env="prod"}`}, "time": {unix(now)}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"value":[`) || !strings.Contains(string(b), `"3"]`) {
		t.Errorf("POST query: %d %s", resp.StatusCode, b)
	}
	// Errors carry Prometheus' status codes and error types.
	code, r := s.Get("/api/v1/query", url.Values{"query": {"sum(("}})
	if code != 400 || r.ErrorType != "bad_data" || !strings.Contains(r.Error, "parse error") {
		t.Errorf("bad query: %d %s %s", code, r.ErrorType, r.Error)
	}
	code, r = s.Get("/api/v1/query_range", url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}})
	if code != 400 || r.ErrorType != "bad_data" {
		t.Errorf("end before start: %d %s %s", code, r.ErrorType, r.Error)
	}
}

// One query cannot take the server down: the sample limit stops it with
// Prometheus' error, and the server keeps answering.
func TestQueryLimits(t *testing.T) {
	s := StartServer(t, "--query.max-samples", "3000")
	now := time.Now().Truncate(time.Second)
	req := prompb.WriteRequest{}
	for i := range 2000 {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "many"}, {Name: "i", Value: fmt.Sprint(i)}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: now.UnixMilli()}},
		})
	}
	if code, body := postRemoteWrite(t, s.URL, &req); code != http.StatusNoContent {
		t.Fatalf("remote write: %d %s", code, body)
	}
	code, r := s.Get("/api/v1/query_range", url.Values{"query": {"many"}, "start": {unix(now)}, "end": {unix(now.Add(time.Minute))}, "step": {"10s"}})
	if code != 422 || r.ErrorType != "execution" || !strings.Contains(r.Error, "too many samples") {
		t.Errorf("over the sample limit: %d %s %s", code, r.ErrorType, r.Error)
	}
	if v := s.Query(`count(many)`, now); len(v) != 1 || v[0].Value[1] != "2000" {
		t.Errorf("aggregations that stay under the limit still work: %v", v)
	}
}

// Browsers send an Origin header with every POST, even to the same site;
// the API must answer it (it once panicked on it).
func TestQueryWithOriginHeader(t *testing.T) {
	s := StartServer(t)
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/query", strings.NewReader(url.Values{"query": {"1+1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("POST with Origin: %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// A listener that cannot bind stops start-up with a message naming the
// setting, not a crash.
func TestPortInUseIsAClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := exec.Command(binary, "server", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0",
		"--otlp-grpc-addr", ln.Addr().String(), "--otlp-http-addr", "127.0.0.1:0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("want exit code 1, got %v", err)
	}
	if !strings.Contains(string(out), "address already in use") || !strings.Contains(string(out), "--otlp-grpc-addr") || strings.Contains(string(out), "panic") {
		t.Fatalf("output:\n%s", out)
	}
}
