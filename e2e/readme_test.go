package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readme is the repository's README, the commands in its sh code blocks
// and the make targets it names anywhere.
type readme struct {
	text     string
	commands []string // one per line of every ```sh block, comments cut
	targets  []string // X of every `make X` in the text
}

var makeTargetRE = regexp.MustCompile("`make ([a-z][a-z0-9_-]*)")

func readREADME(t *testing.T) readme {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	r := readme{text: string(b)}
	in := false
	for _, line := range strings.Split(r.text, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			in = !in && strings.TrimPrefix(line, "```") == "sh"
		case in:
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" {
				r.commands = append(r.commands, line)
			}
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "make" && !slices.Contains(r.targets, f[1]) {
				r.targets = append(r.targets, f[1])
			}
		}
	}
	for _, m := range makeTargetRE.FindAllStringSubmatch(r.text, -1) {
		if !slices.Contains(r.targets, m[1]) {
			r.targets = append(r.targets, m[1])
		}
	}
	return r
}

// makeDryRun prints the commands `make target` would run, from the
// repository root, running nothing (recursive makes inherit -n).
func makeDryRun(t *testing.T, target string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("the README's commands need make: %v", err)
	}
	cmd := exec.Command("make", "-n", "--no-print-directory", target)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	return string(out)
}

// TestREADMECommands checks the README against what the Makefile and the
// binary do, so that it cannot drift silently: the two commands it leads
// with exist and do what it says (make run builds bin/sightline and starts
// `sightline demo`; make test lints, runs the race-enabled Go tests and the
// browser tests), every make target it names is a documented target, and
// the demo prints a URL that serves the UI plus the fault command in the
// form the README shows.
func TestREADMECommands(t *testing.T) {
	r := readREADME(t)
	t.Logf("README commands %q; make targets %q", r.commands, r.targets)
	if !slices.Contains(r.commands, "make run") || !slices.Contains(r.commands, "make test") {
		t.Fatalf("the README's sh blocks no longer lead with make run and make test: %q", r.commands)
	}

	t.Run("every make target the README names is documented by make help", func(t *testing.T) {
		cmd := exec.Command("make", "--no-print-directory", "help")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make help: %v\n%s", err, out)
		}
		documented := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				documented[f[0]] = true
			}
		}
		for _, tg := range append([]string{"run", "test"}, r.targets...) {
			if tg != "help" && !documented[tg] {
				t.Errorf("the README names `make %s`, which make help does not list (it lists %v)", tg, out)
			}
		}
		// "`make help` lists the other targets (`fuzz`, `bench`, …)".
		if m := regexp.MustCompile("`make help` lists the other targets \\(([^)]*)\\)").FindStringSubmatch(r.text); m != nil {
			for _, tg := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(m[1], -1) {
				if !documented[tg[1]] {
					t.Errorf("the README says make help lists %q; it does not", tg[1])
				}
			}
		}
	})

	var runArgs []string
	t.Run("make run builds the binary and starts the demo", func(t *testing.T) {
		out := makeDryRun(t, "run")
		build := regexp.MustCompile(`(?m)go build .*-o (\S+) \./cmd/sightline$`).FindStringSubmatch(out)
		if build == nil {
			t.Fatalf("make -n run builds no ./cmd/sightline:\n%s", out)
		}
		run := regexp.MustCompile(`(?m)^(\S*sightline) (demo\b.*)$`).FindStringSubmatch(out)
		if run == nil {
			t.Fatalf("make -n run does not start `sightline demo`:\n%s", out)
		}
		if filepath.Clean(run[1]) != filepath.Clean(build[1]) {
			t.Errorf("make run starts %s but builds %s", run[1], build[1])
		}
		runArgs = strings.Fields(run[2])
		// The fault command the README gives uses the binary make builds.
		for _, c := range r.commands {
			if strings.Contains(c, "sightline demo fault") && !strings.HasPrefix(c, "./"+filepath.Clean(build[1])+" ") {
				t.Errorf("the README runs %q, but make builds %s", c, build[1])
			}
		}
	})

	t.Run("make test runs lint, the race-enabled Go tests and the browser tests", func(t *testing.T) {
		out := makeDryRun(t, "test")
		for what, re := range map[string]string{
			"gofmt":              `gofmt -l`,
			"go vet":             `go vet `,
			"race-enabled tests": `go test -race .*\./\.\.\.`,
			"browser tests":      `scripts/test-ui\.sh `,
			"test dependencies":  `scripts/install-test-deps\.sh`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("make -n test has no %s (%s):\n%s", what, re, out)
			}
		}
		for _, s := range []string{"scripts/test-ui.sh", "scripts/install-test-deps.sh", "web/e2e/run.mjs", "web/e2e/demo.mjs"} {
			if st, err := os.Stat(filepath.Join("..", s)); err != nil {
				t.Errorf("make test needs %s: %v", s, err)
			} else if strings.HasSuffix(s, ".sh") && st.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable", s)
			}
		}
	})

	t.Run("the demo's defaults and printed URL match the README", func(t *testing.T) {
		if runArgs == nil {
			t.Skip("make run did not resolve")
		}
		// The README's port: "HTTP on :9800" and the --http-addr default in its flag table.
		if !strings.Contains(r.text, "| `--http-addr` | `:9800` |") {
			t.Fatalf("the README's flag table no longer gives --http-addr :9800")
		}
		help, _ := exec.Command(binary, "demo", "--help").CombinedOutput()
		if !regexp.MustCompile(`-http-addr string\s+[^\n]*\(default ":9800"\)`).Match(help) {
			t.Errorf("sightline demo's --http-addr default is not the README's :9800:\n%s", help)
		}

		// Start the demo as make run does, on random ports (a shared
		// machine may already use 9800), and open what it prints.
		args := slices.Clone(runArgs)
		for i := range args {
			if args[i] == "--data-dir" && i+1 < len(args) {
				args[i+1] = t.TempDir()
			}
		}
		args = append(args, "--http-addr", "127.0.0.1:0", "--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0", "--fault-every", "0", "--duration", "2m")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		printed := readUntil(t, stdout, "Press Ctrl-C to stop.", 60*time.Second)
		go func() { _, _ = io.Copy(io.Discard, stdout) }()

		open := regexp.MustCompile(`(?m)^\s*Open\s+(http://\S+/)\s`).FindStringSubmatch(printed)
		shop := regexp.MustCompile(`(?m)^\s*Shop\s+(http://\S+)\s`).FindStringSubmatch(printed)
		fault := regexp.MustCompile(`(?m)^\s*sightline (demo fault \S+ --on --addr) (\S+)$`).FindStringSubmatch(printed)
		if open == nil || shop == nil || fault == nil {
			t.Fatalf("the demo's welcome text lacks the URL to open, the shop or the fault command:\n%s", printed)
		}
		if fault[2] != shop[1] {
			t.Errorf("the fault command's --addr %s is not the shop gateway %s", fault[2], shop[1])
		}
		if !strings.Contains(r.text, "sightline "+fault[1]+" <gateway URL printed at start>") {
			t.Errorf("the README's fault command differs from the demo's %q", "sightline "+fault[1]+" URL")
		}
		resp, err := http.Get(open[1])
		if err != nil {
			t.Fatalf("open the printed URL: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(bytes.ToLower(body), []byte("<html")) {
			t.Errorf("the printed URL %s answered %s with no page:\n%.300s", open[1], resp.Status, body)
		}
		// Ctrl-C stops everything cleanly.
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Errorf("sightline demo after SIGINT: %v\n%s", err, lastLines(stderr.String(), 20))
		}
	})
}

// readUntil reads r until a line contains marker and returns what it read.
func readUntil(t *testing.T, r io.Reader, marker string, timeout time.Duration) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker) {
				break
			}
		}
		done <- b.String()
	}()
	select {
	case s := <-done:
		if !strings.Contains(s, marker) {
			t.Fatalf("output ended before %q:\n%s", marker, s)
		}
		return s
	case <-time.After(timeout):
		t.Fatalf("no %q within %v", marker, timeout)
		return ""
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
