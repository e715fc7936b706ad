package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// compatQueries cover the PromQL users write daily: selectors, rates,
// aggregations, histograms, binary operators, functions, offsets, @ and
// subqueries, over node_exporter's and Prometheus' own metrics.
var compatQueries = []string{
	`up`,
	`count(up)`,
	`sum by (job) (up)`,
	`node_load1`,
	`node_cpu_seconds_total{mode="idle"}`,
	`rate(node_cpu_seconds_total[30s])`,
	`sum by (mode) (rate(node_cpu_seconds_total[30s]))`,
	`irate(node_cpu_seconds_total{mode="user"}[30s])`,
	`increase(prometheus_http_requests_total[30s])`,
	`delta(node_memory_MemFree_bytes[30s])`,
	`deriv(node_memory_MemFree_bytes[30s])`,
	`predict_linear(node_memory_MemFree_bytes[30s], 60)`,
	`avg_over_time(node_load1[30s])`,
	`max_over_time(node_memory_MemFree_bytes[30s])`,
	`min_over_time(node_memory_MemFree_bytes[30s])`,
	`count_over_time(up[30s])`,
	`stddev_over_time(node_memory_MemFree_bytes[30s])`,
	`quantile_over_time(0.9, node_memory_MemFree_bytes[30s])`,
	`changes(node_memory_MemFree_bytes[30s])`,
	`resets(node_cpu_seconds_total[30s])`,
	`histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[30s])))`,
	`histogram_quantile(0.5, sum by (le, handler) (rate(prometheus_http_response_size_bytes_bucket[30s])))`,
	`topk(3, node_network_receive_bytes_total)`,
	`bottomk(2, node_filesystem_avail_bytes)`,
	`node_filesystem_avail_bytes / node_filesystem_size_bytes`,
	`1 - node_filesystem_avail_bytes / on (device, mountpoint) node_filesystem_size_bytes`,
	`node_memory_MemAvailable_bytes / 1024 / 1024`,
	`node_load1 > 0`,
	`node_load1 > bool 1000`,
	`up == 1`,
	`up and on (job) up{job="node"}`,
	`up or vector(0)`,
	`up unless up{job="node"}`,
	`sum(rate(node_cpu_seconds_total[30s])) by (cpu) / on (cpu) group_left count(node_cpu_seconds_total) by (cpu)`,
	`label_replace(up, "svc", "$1", "job", "(.*)")`,
	`label_join(up, "both", "-", "job", "instance")`,
	`absent(no_such_metric)`,
	`absent_over_time(up[30s])`,
	`vector(1) + 1`,
	`scalar(count(up)) * 2`,
	`timestamp(up)`,
	`up offset 10s`,
	`count by (mode) (node_cpu_seconds_total)`,
	`count_values("value", up)`,
	`group by (job) (up)`,
	`sort_desc(node_filesystem_size_bytes)`,
	`clamp_max(node_load1, 0.5)`,
	`round(node_memory_MemFree_bytes / 1e6)`,
	`abs(delta(node_memory_MemFree_bytes[30s]))`,
	`max_over_time(rate(node_cpu_seconds_total{mode="idle"}[10s])[30s:5s])`,
	`avg(rate(prometheus_tsdb_head_samples_appended_total[30s]))`,
	`quantile(0.5, node_cpu_seconds_total)`,
	`stddev(node_cpu_seconds_total)`,
	`sum without (cpu) (node_cpu_seconds_total)`,
	`{__name__=~"node_load.*"}`,
	`node_network_up{device!~"lo|eth.*"}`,
	`ln(node_memory_MemTotal_bytes)`,
	`exp(node_load1)`,
	`hour(timestamp(up))`,
	`sgn(node_load1)`,
}

// TestPromQLMatchesPrometheus runs a real Prometheus (Debian's package)
// scraping a real node_exporter and itself every second and remote-writing
// everything into sightline, then asks both the same queries at the same
// evaluation times and compares the answers.
func TestPromQLMatchesPrometheus(t *testing.T) {
	// SIGHTLINE_PROMETHEUS picks another Prometheus build to compare with.
	promName := "prometheus"
	if p := os.Getenv("SIGHTLINE_PROMETHEUS"); p != "" {
		promName = p
	}
	promBin, err1 := exec.LookPath(promName)
	nodeBin, err2 := exec.LookPath("prometheus-node-exporter")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prometheus and prometheus-node-exporter must be installed in CI (make deps): %v %v", err1, err2)
		}
		t.Skip("prometheus / prometheus-node-exporter not installed; run `make deps`")
	}
	if testing.Short() {
		t.Skip("takes about a minute")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sightline.yml")
	writeFile(t, cfg, "metrics:\n  self_scrape: false\n")
	s := StartServer(t, "--config", cfg)

	nodeAddr, promAddr := freeAddr(t), freeAddr(t)
	startProcess(t, nodeBin, "--web.listen-address="+nodeAddr, "--collector.disable-defaults",
		"--collector.cpu", "--collector.meminfo", "--collector.loadavg", "--collector.filesystem",
		"--collector.netdev", "--collector.time", "--collector.stat", "--collector.netclass")
	promCfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promCfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: node
    static_configs: [{targets: [%q]}]
  - job_name: prometheus
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s/api/v1/write
    queue_config: {batch_send_deadline: 200ms, max_samples_per_send: 5000}
`, nodeAddr, promAddr, s.URL))
	startProcess(t, promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr)
	promURL := "http://" + promAddr

	// Let both collect 45 s of history, then compare at three instants
	// safely behind the remote-write pipeline.
	time.Sleep(45 * time.Second)
	Eventually(t, 20*time.Second, func() error {
		at := time.Now().Add(-5 * time.Second)
		a, b := instant(promURL, `count(up)`, at), instant(s.URL, `count(up)`, at)
		if a.err != nil || b.err != nil || a.body != b.body {
			return fmt.Errorf("not yet in sync: prometheus %s / sightline %s", a.body, b.body)
		}
		return nil
	})
	now := time.Now()
	evals := []time.Time{now.Add(-8 * time.Second), now.Add(-15*time.Second - 300*time.Millisecond), now.Add(-25 * time.Second)}
	matched, total := 0, 0
	var mismatches []string
	for _, q := range compatQueries {
		for _, at := range evals {
			total++
			want, got := instant(promURL, q, at), instant(s.URL, q, at)
			if diff := compareResults(want, got); diff != "" {
				mismatches = append(mismatches, fmt.Sprintf("%s @%d: %s", q, at.UnixMilli(), diff))
				continue
			}
			matched++
		}
	}
	// Range queries, as Grafana sends them.
	for _, q := range []string{`rate(node_cpu_seconds_total[10s])`, `sum by (job) (up)`, `node_memory_MemFree_bytes`} {
		total++
		want, got := rangeQuery(promURL, q, now.Add(-35*time.Second), now.Add(-8*time.Second), "2s"), rangeQuery(s.URL, q, now.Add(-35*time.Second), now.Add(-8*time.Second), "2s")
		if diff := compareResults(want, got); diff != "" {
			mismatches = append(mismatches, fmt.Sprintf("range %s: %s", q, diff))
			continue
		}
		matched++
	}
	version := promVersion(promBin)
	share := float64(matched) / float64(total)
	t.Logf("PromQL comparison with %s: %d of %d answers match (%.1f%%)", version, matched, total, 100*share)
	// sightline runs the Prometheus 3 engine. Prometheus 2.x (Debian 12
	// ships 2.42) computes some rate()/increase() extrapolations
	// differently; against 3.x every answer must match.
	if strings.Contains(version, "version 2.") {
		for _, m := range mismatches {
			t.Logf("differs from Prometheus 2.x: %s", m)
		}
		if share < 0.95 {
			t.Errorf("only %.1f%% of answers match Prometheus 2.x; more than its known 3.x differences", 100*share)
		}
		return
	}
	for _, m := range mismatches {
		t.Errorf("mismatch: %s", m)
	}
}

type apiAnswer struct {
	body string // the canonicalised result
	err  error
}

func instant(base, q string, at time.Time) apiAnswer {
	return fetchResult(base + "/api/v1/query?" + url.Values{"query": {q}, "time": {unix(at)}}.Encode())
}

func rangeQuery(base, q string, start, end time.Time, step string) apiAnswer {
	return fetchResult(base + "/api/v1/query_range?" + url.Values{"query": {q}, "start": {unix(start)}, "end": {unix(end)}, "step": {step}}.Encode())
}

// fetchResult returns the result canonicalised: series sorted by labels,
// values kept as the strings the API printed.
func fetchResult(u string) apiAnswer {
	resp, err := http.Get(u)
	if err != nil {
		return apiAnswer{err: err}
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return apiAnswer{err: err}
	}
	if r.Status != "success" {
		return apiAnswer{err: fmt.Errorf("%s", r.Error)}
	}
	var series []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
		Values [][]any           `json:"values"`
	}
	if r.Data.ResultType == "scalar" || r.Data.ResultType == "string" {
		return apiAnswer{body: r.Data.ResultType + ":" + string(r.Data.Result)}
	}
	if err := json.Unmarshal(r.Data.Result, &series); err != nil {
		return apiAnswer{err: err}
	}
	lines := make([]string, 0, len(series))
	for _, s := range series {
		keys := make([]string, 0, len(s.Metric))
		for k := range s.Metric {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q,", k, s.Metric[k])
		}
		b.WriteString(" ")
		if s.Value != nil {
			fmt.Fprintf(&b, "%v %v", s.Value...)
		}
		for _, v := range s.Values {
			fmt.Fprintf(&b, "%v %v;", v...)
		}
		lines = append(lines, b.String())
	}
	sort.Strings(lines)
	return apiAnswer{body: strings.Join(lines, "\n")}
}

// compareResults is "" when both answers agree: same series, same
// timestamps, and values equal or within 1e-9 relative (summation order may
// differ between versions).
func compareResults(want, got apiAnswer) string {
	if want.err != nil || got.err != nil {
		if want.err != nil && got.err != nil {
			return "" // both refuse the query
		}
		return fmt.Sprintf("prometheus error %v, sightline error %v", want.err, got.err)
	}
	if want.body == got.body {
		return ""
	}
	wl, gl := strings.Split(want.body, "\n"), strings.Split(got.body, "\n")
	if len(wl) != len(gl) {
		return fmt.Sprintf("%d series vs %d\nprometheus:\n%s\nsightline:\n%s", len(wl), len(gl), clip(want.body), clip(got.body))
	}
	for i := range wl {
		if !numericallyEqual(wl[i], gl[i]) {
			return fmt.Sprintf("prometheus %s\n  sightline %s", clip(wl[i]), clip(gl[i]))
		}
	}
	return ""
}

func numericallyEqual(a, b string) bool {
	fa, fb := strings.FieldsFunc(a, splitNum), strings.FieldsFunc(b, splitNum)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] == fb[i] {
			continue
		}
		x, err1 := strconv.ParseFloat(fa[i], 64)
		y, err2 := strconv.ParseFloat(fb[i], 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if math.Abs(x-y) > 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
			return false
		}
	}
	return true
}

func splitNum(r rune) bool { return r == ' ' || r == ';' }

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startProcess(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	log := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s log:\n%s", bin, clip(string(b)))
		}
	})
}

func promVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
