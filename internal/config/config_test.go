package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadMixesPrometheusAndSightlineSections(t *testing.T) {
	text := `# a comment
global:
  scrape_interval: 5s
server:
  http_addr: 127.0.0.1:19800
  data_dir: /tmp/x
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:8080"]
metrics:
  retention: 2d
  retention_size: 1GB
`
	c, err := Load([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.HTTPAddr != "127.0.0.1:19800" || c.Server.DataDir != "/tmp/x" {
		t.Errorf("server section not applied: %+v", c.Server)
	}
	if c.Server.OTLPGRPCAddr != ":4317" {
		t.Errorf("default OTLP gRPC address lost: %q", c.Server.OTLPGRPCAddr)
	}
	if time.Duration(c.Metrics.Retention) != 48*time.Hour || c.Metrics.RetentionSize != 1<<30 {
		t.Errorf("metrics section: %+v", c.Metrics)
	}
	if got := time.Duration(c.Prometheus.GlobalConfig.ScrapeInterval); got != 5*time.Second {
		t.Errorf("global.scrape_interval = %v", got)
	}
	if len(c.Prometheus.ScrapeConfigs) != 1 || c.Prometheus.ScrapeConfigs[0].JobName != "app" {
		t.Fatalf("scrape_configs: %+v", c.Prometheus.ScrapeConfigs)
	}
	// Prometheus defaults flow from global into the job.
	if got := time.Duration(c.Prometheus.ScrapeConfigs[0].ScrapeInterval); got != 5*time.Second {
		t.Errorf("job scrape_interval = %v, want the global 5s", got)
	}
}

func TestLoadErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown sightline key", "server:\n  http_adr: :1\n", []string{"line 2", "http_adr"}},
		{"unknown top-level key", "global:\n  scrape_interval: 5s\nscrap_configs: []\n", []string{"line 3", "scrap_configs"}},
		{"bad prometheus value", "global:\n  scrape_interval: 5x\n", []string{"5x"}},
		{"bad address", "server:\n  data_dir: d\n  http_addr: nope\n", []string{"line 3", "server.http_addr", "nope"}},
		{"bad size", "metrics:\n  retention_size: lots\n", []string{"lots"}},
		{"bad level", "server:\n  log_level: loud\n", []string{"line 2", "server.log_level", "loud"}},
		{"no retention", "metrics:\n  retention: 0s\n", []string{"metrics.retention"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1", "mapping"}},
		{"yaml syntax", "server:\n  http_addr: [\n", []string{"line"}},
		{"bad scrape job", "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 20s\n", []string{"scrape timeout greater than scrape interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.text), nil)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEmptyConfigIsDefault(t *testing.T) {
	for _, text := range []string{"", "# nothing\n"} {
		c, err := Load([]byte(text), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Server.HTTPAddr != ":9800" || c.Server.DataDir != "data" || !c.SelfScrapeEnabled() {
			t.Errorf("defaults not applied: %+v", c.Server)
		}
	}
}

func TestLoadFileResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sightline.yml")
	text := "scrape_configs:\n  - job_name: f\n    file_sd_configs:\n      - files: [targets/*.json]\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, filepath.Join(dir, "targets/*.json")) {
		t.Errorf("file_sd path not resolved against the config's folder:\n%s", dump)
	}
	if !strings.Contains(dump, "http_addr: :9800") {
		t.Errorf("dump lacks sightline's sections:\n%s", dump)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "1024": 1024, "1KB": 1024, "512MB": 512 << 20, "1GiB": 1 << 30, "2GB": 2 << 30} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "x", "1XB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
}
