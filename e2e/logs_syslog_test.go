package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var syslogAddrRE = regexp.MustCompile(`listener=syslog addr=(\S+)`)

// TestLogsSyslog sends files of lines with util-linux logger (an external
// client) over TCP with octet counting, TCP with newline framing and UDP,
// in RFC 5424 and RFC 3164, and reads exactly those lines back.
func TestLogsSyslog(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("util-linux logger must be installed in CI (make deps)")
		}
		t.Skip("util-linux logger not installed")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sightline.yml")
	writeFile(t, cfg, "logs:\n  syslog_addr: \"127.0.0.1:0\"\n")
	if out, err := exec.Command(binary, "tool", "check-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	s := StartServer(t, "--config", cfg)
	var addr string
	Eventually(t, 10*time.Second, func() error {
		m := syslogAddrRE.FindStringSubmatch(s.Log())
		if m == nil {
			return fmt.Errorf("no syslog listener in the log")
		}
		addr = m[1]
		return nil
	})
	host, port, _ := strings.Cut(addr, ":")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tcp-octet-5424", []string{"--tcp", "--octet-count", "--rfc5424"}},
		{"tcp-newline-3164", []string{"--tcp", "--rfc3164"}},
		{"udp-5424", []string{"--udp", "--rfc5424"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := genLines(tc.name, 50)
			file := filepath.Join(dir, tc.name+".txt")
			writeFile(t, file, strings.Join(lines, "\n")+"\n")
			args := append([]string{"--server", host, "--port", port, "--tag", tc.name, "--priority", "local3.warning", "--file", file}, tc.args...)
			if out, err := exec.Command("logger", args...).CombinedOutput(); err != nil {
				t.Fatalf("logger %v: %v\n%s", args, err, out)
			}
			expectLines(t, s, fmt.Sprintf(`{service_name=%q}`, tc.name), lines)
			expectLines(t, s, fmt.Sprintf(`{service_name=%q} | level="warning" | facility="local3" |= "line 042"`, tc.name), lines[42:43])
		})
	}
}
