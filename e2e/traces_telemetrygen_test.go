package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const telemetrygenVersion = "v0.161.0"

// telemetrygen finds the OpenTelemetry collector's load generator: $TELEMETRYGEN,
// then a cached install, else it installs the pinned version with go
// install into the user cache. Without it the test fails in CI and is
// skipped elsewhere.
func telemetrygen(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TELEMETRYGEN"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	gobin := filepath.Join(cache, "sightline-e2e", "telemetrygen-"+telemetrygenVersion)
	bin := filepath.Join(gobin, "telemetrygen")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@"+telemetrygenVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir() // outside this module
	out, err := cmd.CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("install telemetrygen: %v\n%s", err, out)
		}
		t.Skipf("telemetrygen not available (install failed: %v)", err)
	}
	return bin
}

func TestTracesTelemetrygen(t *testing.T) {
	bin := telemetrygen(t)
	s := StartServer(t)
	const traces = 200
	cmd := exec.Command(bin, "traces", "--otlp-insecure", "--otlp-endpoint", s.OTLPGRPC,
		"--traces", strconv.Itoa(traces), "--rate", "0", "--workers", "1", "--service", "tgen", "--child-spans", "2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("telemetrygen: %v\n%s", err, out)
	}
	// Every trace: one root plus two children, all of service tgen.
	var ids []string
	Eventually(t, 20*time.Second, func() error {
		var ts []jaegerTrace
		jaegerGet(t, s, "/api/traces", url.Values{"service": {"tgen"}, "limit": {"1000"}}, &ts)
		if len(ts) != traces {
			return fmt.Errorf("search found %d traces, want %d", len(ts), traces)
		}
		ids = ids[:0]
		for _, tr := range ts {
			if len(tr.Spans) != 3 {
				return fmt.Errorf("trace %s has %d spans, want 3", tr.TraceID, len(tr.Spans))
			}
			ids = append(ids, tr.TraceID)
		}
		return nil
	})
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("trace %s listed twice", id)
		}
		seen[id] = true
		var ts []jaegerTrace
		if code := jaegerGet(t, s, "/api/traces/"+id, nil, &ts); code != 200 || len(ts) != 1 || ts[0].TraceID != id || len(ts[0].Spans) != 3 {
			t.Fatalf("trace %s by id: %d %+v", id, code, ts)
		}
		roots := 0
		for _, sp := range ts[0].Spans {
			if sp.TraceID != id {
				t.Errorf("span %s of trace %s says trace %s", sp.SpanID, id, sp.TraceID)
			}
			if len(sp.References) == 0 {
				roots++
			}
		}
		if roots != 1 {
			t.Errorf("trace %s: %d roots", id, roots)
		}
	}
	Eventually(t, 20*time.Second, func() error {
		v := s.Query(`sum(traces_spanmetrics_calls_total{service="tgen"})`, time.Now())
		if len(v) != 1 || v[0].Value[1] != strconv.Itoa(3*traces) {
			return fmt.Errorf("span metrics calls = %v, want %d", v, 3*traces)
		}
		return nil
	})
}
