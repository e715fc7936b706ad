package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// demoServices are the shop's instrumented services and a word that
// identifies their log style.
var demoServices = map[string]string{
	"gateway": "json", "cart": "json", "catalog": "logfmt", "inventory": "logfmt", "checkout": "logback", "payment": "logback",
}

// demoEdges are the service-graph edges the shop's normal traffic makes,
// including the uninstrumented database and queue.
var demoEdges = []string{
	"gateway→catalog", "gateway→cart", "gateway→checkout",
	"checkout→cart", "checkout→inventory", "checkout→payment",
	"catalog→postgres", "checkout→postgres", "inventory→postgres", "payment→postgres",
	"checkout→kafka",
}

// startDemo runs `sightline demo` on random ports and returns the server
// and the shop gateway's URL.
func startDemo(t *testing.T, args ...string) (*Server, string) {
	t.Helper()
	s := &Server{t: t, DataDir: filepath.Join(t.TempDir(), "data")}
	s.args = append([]string{"demo",
		"--data-dir", s.DataDir,
		"--http-addr", "127.0.0.1:0",
		"--otlp-grpc-addr", "127.0.0.1:0",
		"--otlp-http-addr", "127.0.0.1:0",
		"--duration", "10m", // a safety net: the test stops it long before
	}, args...)
	s.start()
	t.Cleanup(s.Stop)
	m := regexp.MustCompile(`msg=listening listener=shop-gateway addr=(\S+)`).FindStringSubmatch(s.Log())
	if m == nil {
		t.Fatalf("the demo did not log its gateway address:\n%s", s.Log())
	}
	return s, "http://" + m[1]
}

func demoGetJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %.300s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w: %.300s", u, err, b)
	}
	return nil
}

func demoQuery(s *Server, q string) ([]VectorSample, error) {
	var r struct {
		Data struct {
			Result []VectorSample `json:"result"`
		} `json:"data"`
	}
	err := demoGetJSON(s.URL+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), &r)
	return r.Data.Result, err
}

func demoLogLines(s *Server, query string) ([]string, error) {
	v := url.Values{"query": {query}, "limit": {"500"},
		"start": {fmt.Sprint(time.Now().Add(-time.Hour).UnixNano())}, "end": {fmt.Sprint(time.Now().Add(time.Minute).UnixNano())}}
	var r struct {
		Data struct {
			Result []struct {
				Values [][2]string `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := demoGetJSON(s.URL+"/loki/api/v1/query_range?"+v.Encode(), &r); err != nil {
		return nil, err
	}
	var out []string
	for _, st := range r.Data.Result {
		for _, val := range st.Values {
			out = append(out, val[1])
		}
	}
	return out, nil
}

// demoFault switches a fault with `sightline demo fault`, as a user would.
func demoFault(t *testing.T, gateway, name string, on bool) {
	t.Helper()
	sw := "--off"
	if on {
		sw = "--on"
	}
	out, err := exec.Command(binary, "demo", "fault", name, sw, "--addr", gateway).CombinedOutput()
	if err != nil {
		t.Fatalf("sightline demo fault %s %s: %v\n%s", name, sw, err, out)
	}
	want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+` + strings.TrimPrefix(sw, "--") + `$`)
	if !want.Match(out) {
		t.Fatalf("sightline demo fault %s %s printed:\n%s", name, sw, out)
	}
}

// firingAlerts returns the names of firing alerts.
func firingAlerts(s *Server) ([]string, error) {
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := demoGetJSON(s.URL+"/api/v1/alerts", &r); err != nil {
		return nil, err
	}
	var names []string
	for _, a := range r.Data.Alerts {
		if a.State == "firing" {
			names = append(names, a.Labels["alertname"])
		}
	}
	return names, nil
}

var traceIDRE = regexp.MustCompile(`trace_id"?[=:]"?([0-9a-f]{32})`)

// TestDemo runs the demo shop and finds, through the public APIs only,
// what a new user should see: scraped metrics from every service, traces
// across at least four services, the service graph with the database and
// queue, logs of every style whose trace ids resolve, and an alert that
// fires while a fault is on and resolves after it is switched off.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about two minutes")
	}
	s, gateway := startDemo(t, "--fault-every", "0", "--rps", "10")

	t.Run("scraped metrics from every service", func(t *testing.T) {
		Eventually(t, 60*time.Second, func() error {
			res, err := demoQuery(s, `sum by (service) (shop_requests_total{job="shop"}) > 0 and on (service) (up{job="shop"} == 1)`)
			if err != nil {
				return err
			}
			var got []string
			for _, r := range res {
				got = append(got, r.Metric["service"])
			}
			if len(got) != len(demoServices) {
				return fmt.Errorf("services scraped with traffic: %v", got)
			}
			return nil
		})
	})

	t.Run("traces span four services", func(t *testing.T) {
		Eventually(t, 60*time.Second, func() error {
			var r struct {
				Data []struct {
					TraceID   string `json:"traceID"`
					Processes map[string]struct {
						ServiceName string `json:"serviceName"`
					} `json:"processes"`
				} `json:"data"`
			}
			if err := demoGetJSON(s.URL+"/api/traces?service=gateway&operation="+url.QueryEscape("POST /api/checkout")+"&limit=20&lookback=1h", &r); err != nil {
				return err
			}
			for _, tr := range r.Data {
				svcs := map[string]bool{}
				for _, p := range tr.Processes {
					svcs[p.ServiceName] = true
				}
				if len(svcs) >= 4 {
					return nil
				}
			}
			return fmt.Errorf("none of %d checkout traces spans 4 services", len(r.Data))
		})
	})

	t.Run("service graph", func(t *testing.T) {
		Eventually(t, 90*time.Second, func() error {
			res, err := demoQuery(s, `sum by (client, server) (traces_service_graph_request_total)`)
			if err != nil {
				return err
			}
			var got []string
			for _, r := range res {
				got = append(got, r.Metric["client"]+"→"+r.Metric["server"])
			}
			for _, e := range demoEdges {
				if !slices.Contains(got, e) {
					return fmt.Errorf("edge %s missing; have %v", e, got)
				}
			}
			if slices.Contains(got, "cart→payment") {
				return fmt.Errorf("cart→payment appears with no fault on: %v", got)
			}
			return nil
		})
	})

	t.Run("logs of every style resolve to traces", func(t *testing.T) {
		for svc, style := range demoServices {
			Eventually(t, 60*time.Second, func() error {
				lines, err := demoLogLines(s, fmt.Sprintf(`{service_name=%q}`, svc))
				if err != nil {
					return err
				}
				for _, l := range lines {
					switch style {
					case "json":
						if !strings.HasPrefix(l, "{") {
							continue
						}
					case "logfmt":
						if !strings.HasPrefix(l, "ts=") {
							continue
						}
					case "logback":
						if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[`).MatchString(l) {
							continue
						}
					}
					m := traceIDRE.FindStringSubmatch(l)
					if m == nil {
						continue
					}
					var tr struct {
						Data []struct {
							Spans []struct {
								SpanID string `json:"spanID"`
							} `json:"spans"`
						} `json:"data"`
					}
					if err := demoGetJSON(s.URL+"/api/traces/"+m[1], &tr); err != nil {
						return fmt.Errorf("%s log line's trace: %w", svc, err)
					}
					if len(tr.Data) == 1 && len(tr.Data[0].Spans) > 0 {
						return nil
					}
				}
				return fmt.Errorf("no %s line of %s with a resolvable trace id among %d", style, svc, len(lines))
			})
		}
	})

	t.Run("no fault alert fires without a fault", func(t *testing.T) {
		names, err := firingAlerts(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, "Demo") {
				t.Errorf("%s fires with every fault off (firing: %v)", n, names)
			}
		}
	})

	t.Run("alert fires with a fault and resolves without", func(t *testing.T) {
		demoFault(t, gateway, "pool", true)
		Eventually(t, 90*time.Second, func() error {
			names, err := firingAlerts(s)
			if err != nil {
				return err
			}
			if !slices.Contains(names, "DemoDBPoolExhausted") {
				return fmt.Errorf("firing: %v", names)
			}
			return nil
		})
		// The Java stack trace of the timeout arrives as one record.
		Eventually(t, 30*time.Second, func() error {
			lines, err := demoLogLines(s, `{service_name="checkout"} |= "Connection is not available"`)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if strings.Contains(l, "\n\tat shop.checkout.") && strings.Contains(l, "\nCaused by: ") {
					return nil
				}
			}
			return fmt.Errorf("no multi-line pool timeout record among %d", len(lines))
		})
		demoFault(t, gateway, "pool", false)
		Eventually(t, 120*time.Second, func() error {
			names, err := firingAlerts(s)
			if err != nil {
				return err
			}
			if slices.Contains(names, "DemoDBPoolExhausted") {
				return fmt.Errorf("still firing: %v", names)
			}
			return nil
		})
	})
}
