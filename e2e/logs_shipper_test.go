package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// rsyslogModule finds an rsyslog module; in CI a missing rsyslog (Debian
// packages rsyslog and rsyslog-elasticsearch) fails the test, elsewhere it
// skips it.
func rsyslogModule(t *testing.T, name string) {
	t.Helper()
	_, errBin := exec.LookPath("rsyslogd")
	matches, _ := filepath.Glob("/usr/lib/*/rsyslog/" + name + ".so")
	if errBin == nil && len(matches) > 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("rsyslogd with %s is required in CI (apt-get install rsyslog rsyslog-elasticsearch)", name)
	}
	t.Skipf("rsyslogd with %s not installed (apt-get install rsyslog rsyslog-elasticsearch)", name)
}

// TestLogsRsyslogElasticsearch ships a generated file with a real external
// shipper, rsyslog's imfile → omelasticsearch (bulk mode), through
// sightline's Elasticsearch endpoint: every line arrives, none twice.
func TestLogsRsyslogElasticsearch(t *testing.T) {
	rsyslogModule(t, "omelasticsearch")
	s := StartServer(t)
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`rsyslog line %04d "quoted" path=/api/items/%d \ backslash`, i, i%17)
	}
	logFile := filepath.Join(dir, "gen.log")
	writeFile(t, logFile, strings.Join(lines, "\n")+"\n")
	conf := filepath.Join(dir, "rsyslog.conf")
	writeFile(t, conf, fmt.Sprintf(`global(workDirectory=%q)
module(load="imfile")
module(load="omelasticsearch")
template(name="es" type="list" option.json="on") {
  constant(value="{\"@timestamp\":\"")
  property(name="timereported" dateFormat="rfc3339")
  constant(value="\",\"message\":\"")
  property(name="msg")
  constant(value="\",\"service.name\":\"rsyslog-e2e\"}")
}
input(type="imfile" File=%q Tag="gen")
action(type="omelasticsearch" server=%q searchIndex="rsyslog" bulkmode="on" template="es"
       errorFile=%q action.resumeRetryCount="-1")
`, work, logFile, s.URL+"/elastic/", filepath.Join(work, "errors.json")))
	cmd := exec.Command("rsyslogd", "-n", "-f", conf, "-i", filepath.Join(work, "rsyslogd.pid"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	Eventually(t, 60*time.Second, func() error {
		got := logLines(t, s, `{service_name="rsyslog-e2e"}`)
		if len(got) < n {
			return fmt.Errorf("%d of %d lines arrived (rsyslog output: %s)", len(got), n, out.String())
		}
		return nil
	})
	time.Sleep(time.Second) // let any duplicate arrive before counting
	got := logLines(t, s, `{service_name="rsyslog-e2e"}`)
	if len(got) != n {
		t.Fatalf("got %d lines, want exactly %d", len(got), n)
	}
	want := append([]string(nil), lines...)
	sort.Strings(want)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if b, err := os.ReadFile(filepath.Join(work, "errors.json")); err == nil && len(b) > 0 {
		t.Errorf("rsyslog reported bulk errors: %s", b)
	}
}
