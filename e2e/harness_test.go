// Package e2e starts the real sightline binary on 127.0.0.1 with random
// ports and a temporary data directory, and talks to it over its real
// protocols. The binary is built once per test run (with -race when the
// tests run with -race).
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	// SIGHTLINE_BINARY runs the tests against a binary built elsewhere.
	if b := os.Getenv("SIGHTLINE_BINARY"); b != "" {
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sightline-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sightline")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "../cmd/sightline")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sightline:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is one running sightline server process.
type Server struct {
	t        testing.TB
	DataDir  string
	URL      string // main HTTP listener, e.g. http://127.0.0.1:41234
	OTLPHTTP string // OTLP/HTTP listener URL
	OTLPGRPC string // OTLP/gRPC host:port
	args     []string
	cmd      *exec.Cmd
	logMu    sync.Mutex
	log      strings.Builder
	exited   chan struct{}
}

var listenRE = regexp.MustCompile(`msg=listening listener=(\S+) addr=(\S+)`)

// StartServer runs `sightline server` with a fresh data dir (unless
// -data-dir is among args) and waits until it is ready.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: filepath.Join(t.TempDir(), "data")}
	s.args = append([]string{"server",
		"--data-dir", s.DataDir,
		"--http-addr", "127.0.0.1:0",
		"--otlp-grpc-addr", "127.0.0.1:0",
		"--otlp-http-addr", "127.0.0.1:0",
	}, args...)
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	s.URL, s.OTLPHTTP, s.OTLPGRPC = "", "", ""
	s.cmd = exec.Command(binary, s.args...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = io.Discard
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	addrs := make(chan [2]string, 8)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.log.WriteString(line + "\n")
			s.logMu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addrs <- [2]string{m[1], m[2]}
			}
		}
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.After(60 * time.Second)
	for s.URL == "" || s.OTLPHTTP == "" || s.OTLPGRPC == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "http":
				s.URL = "http://" + a[1]
			case "otlp-http":
				s.OTLPHTTP = "http://" + a[1]
			case "otlp-grpc":
				s.OTLPGRPC = a[1]
			}
		case <-s.exited:
			t.Fatalf("sightline exited during start-up:\n%s", s.Log())
		case <-deadline:
			t.Fatalf("sightline did not start in time:\n%s", s.Log())
		}
	}
	s.WaitReady()
}

// WaitReady polls /-/ready.
func (s *Server) WaitReady() {
	s.t.Helper()
	Eventually(s.t, 30*time.Second, func() error {
		resp, err := http.Get(s.URL + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("ready: %s", resp.Status)
		}
		return nil
	})
}

// Log returns what the server logged so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("sightline did not stop within 40s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("sightline exited with code %d:\n%s", code, s.Log())
	}
}

// Kill sends SIGKILL (a crash) and waits for the process to go.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Restart starts the same server again on new ports, same data dir.
func (s *Server) Restart() { s.start() }

// Eventually retries f until it succeeds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PromResult is the body of a Prometheus API response.
type PromResult struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// VectorSample is one element of an instant query's vector result.
type VectorSample struct {
	Metric    map[string]string `json:"metric"`
	Value     [2]any            `json:"value"`
	Histogram [2]any            `json:"histogram"`
}

// Get issues a GET to the server's path with query params and decodes a
// Prometheus-style JSON body. It returns the HTTP status too.
func (s *Server) Get(path string, params url.Values) (int, PromResult) {
	s.t.Helper()
	u := s.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r PromResult
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("GET %s: %s: not JSON: %q", u, resp.Status, b)
	}
	return resp.StatusCode, r
}

// Query runs an instant PromQL query and returns the vector.
func (s *Server) Query(q string, at time.Time) []VectorSample {
	s.t.Helper()
	code, r := s.Get("/api/v1/query", url.Values{"query": {q}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}})
	if code != 200 || r.Status != "success" {
		s.t.Fatalf("query %q: %d %s %s", q, code, r.ErrorType, r.Error)
	}
	var d struct {
		ResultType string         `json:"resultType"`
		Result     []VectorSample `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		s.t.Fatal(err)
	}
	return d.Result
}

// ctx returns a context bounded by the test's deadline or a minute.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
