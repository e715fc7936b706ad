package e2e

// The agent soak test: the real `sightline agent` tails files that a writer
// appends numbered lines to at a steady rate, while the files are rotated
// (rename and copytruncate), the agent is killed with SIGKILL and restarted
// at random moments, and the server is killed (SIGKILL) and stopped
// (SIGTERM) for a while and restarted on the same data directory and port.
// In the end the server must hold every line written exactly once, in order
// per file.
//
// Length: a short run (about 25 s of writing) under plain `go test`;
// SIGHTLINE_LONG=1 (make test-long) writes for 5 minutes with a one-minute
// server outage; -agent-soak=DURATION or SIGHTLINE_AGENT_SOAK=DURATION picks
// another writing time (the outage is a fifth of it, at most a minute).

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var agentSoak = flag.Duration("agent-soak", 0, "writing time of TestAgentSoak (0: 25s, or 5m with SIGHTLINE_LONG=1)")

// soakPlan is the shape of one soak run.
type soakPlan struct {
	write        time.Duration // how long lines are written
	outage       time.Duration // the SIGKILL outage of the server
	stop         time.Duration // the SIGTERM outage of the server
	killEvery    [2]time.Duration
	agentDown    time.Duration // the agent stays down up to this long
	rotateEvery  [2]time.Duration
	linePeriod   time.Duration // per file
	files        int
	catchUp      time.Duration // how long the agent may take to deliver the rest
	agentLogTail int
}

func soakPlanFromEnv(t *testing.T) soakPlan {
	p := soakPlan{
		write: 25 * time.Second, outage: 4 * time.Second, stop: 2 * time.Second,
		killEvery: [2]time.Duration{3 * time.Second, 6 * time.Second}, agentDown: 3 * time.Second,
		rotateEvery: [2]time.Duration{200 * time.Millisecond, 5 * time.Second},
		linePeriod:  20 * time.Millisecond, files: 3, catchUp: 90 * time.Second, agentLogTail: 60,
	}
	d := *agentSoak
	if s := os.Getenv("SIGHTLINE_AGENT_SOAK"); s != "" && d == 0 {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("SIGHTLINE_AGENT_SOAK=%q: %v", s, err)
		}
	}
	if d == 0 && os.Getenv("SIGHTLINE_LONG") != "" {
		d = 5 * time.Minute
	}
	if d > p.write {
		p.write = d
		p.outage = min(time.Minute, d/5)
		p.stop = min(15*time.Second, d/20)
		p.killEvery = [2]time.Duration{8 * time.Second, 25 * time.Second}
		p.agentDown = 10 * time.Second
		p.rotateEvery = [2]time.Duration{200 * time.Millisecond, 20 * time.Second}
		p.catchUp = 5 * time.Minute
	}
	return p
}

func TestAgentSoak(t *testing.T) {
	plan := soakPlanFromEnv(t)
	t.Logf("soak plan: write %v, server SIGKILL outage %v, SIGTERM outage %v, %d files, a line every %v per file",
		plan.write, plan.outage, plan.stop, plan.files, plan.linePeriod)
	began := time.Now()

	ports := freePorts(t, 4)
	s := StartServer(t,
		"--http-addr", ports[0], "--otlp-grpc-addr", ports[1], "--otlp-http-addr", ports[2])
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ag := &agentProc{t: t, args: []string{"agent", "--server", s.URL,
		"--path", filepath.Join(logDir, "*.log*"),
		"--data-dir", filepath.Join(dir, "agent"),
		"--label", "service.name=soak",
		"--http-addr", ports[3]}}
	ag.start()
	t.Cleanup(ag.stop)

	writers := make([]*soakWriter, plan.files)
	for i := range writers {
		w, err := newSoakWriter(logDir, i)
		if err != nil {
			t.Fatal(err)
		}
		writers[i] = w
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var evMu sync.Mutex
	var events []string
	event := func(format string, args ...any) {
		evMu.Lock()
		events = append(events, fmt.Sprintf("%6.1fs ", time.Since(began).Seconds())+fmt.Sprintf(format, args...))
		evMu.Unlock()
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-done:
			return false
		case <-time.After(d):
			return true
		}
	}
	between := func(r [2]time.Duration) time.Duration {
		return r[0] + rand.N(r[1]-r[0]+1)
	}
	// Writers: one line per period per file, rotating now and then.
	for _, w := range writers {
		wg.Go(func() {
			tick := time.NewTicker(plan.linePeriod)
			defer tick.Stop()
			nextRotate := time.Now().Add(between(plan.rotateEvery))
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				complete, err := w.writeLine()
				if err != nil {
					t.Errorf("write %s: %v", w.name, err)
					return
				}
				if complete && time.Now().After(nextRotate) {
					how, err := w.rotate()
					if err != nil {
						t.Errorf("rotate %s: %v", w.name, err)
						return
					}
					event("rotated %s by %s at line %d", w.name, how, w.seq)
					nextRotate = time.Now().Add(between(plan.rotateEvery))
				}
			}
		})
	}
	// The agent is killed and restarted at random moments.
	wg.Go(func() {
		for sleep(between(plan.killEvery)) {
			ag.kill()
			event("agent SIGKILL")
			if !sleep(rand.N(plan.agentDown)) {
				ag.start()
				return
			}
			ag.start()
			event("agent restarted")
		}
	})
	// The server is killed, later stopped cleanly, each time for a while.
	wg.Go(func() {
		if !sleep(plan.write * 3 / 10) {
			return
		}
		s.Kill()
		event("server SIGKILL for %v", plan.outage)
		sleep(plan.outage)
		s.Restart()
		event("server restarted")
		if !sleep(plan.write * 3 / 10) {
			return
		}
		s.Stop()
		event("server SIGTERM for %v", plan.stop)
		sleep(plan.stop)
		s.Restart()
		event("server restarted")
	})

	time.Sleep(plan.write)
	close(done)
	wg.Wait()
	written := map[string]int{}
	total := 0
	for _, w := range writers {
		if len(w.rest) > 0 { // finish a line written in two parts
			if _, err := w.writeLine(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		written[w.name] = w.seq
		total += w.seq
	}
	if s.URL == "" {
		t.Fatal("server not running at the end")
	}
	event("writing stopped: %d lines in %d files", total, len(writers))

	// Wait until the server has as many lines as were written (or stops
	// gaining), then check them.
	var rows []soakRow
	deadline := time.Now().Add(plan.catchUp)
	last, lastChange := -1, time.Now()
	for {
		rows = soakQuery(t, s, began.Add(-time.Minute))
		if len(rows) != last {
			last, lastChange = len(rows), time.Now()
		}
		if len(rows) >= total && time.Since(lastChange) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) || (len(rows) < total && time.Since(lastChange) > 45*time.Second) {
			break
		}
		time.Sleep(time.Second)
	}
	event("server holds %d rows", len(rows))
	problems := checkSoakRows(rows, written)
	if len(problems) == 0 {
		problems = checkAgentLag(t, "http://"+ports[3]+"/metrics")
	}
	evMu.Lock()
	t.Logf("events:\n%s", strings.Join(events, "\n"))
	evMu.Unlock()
	if len(problems) > 0 {
		if len(problems) > 40 {
			problems = append(problems[:40], fmt.Sprintf("... and %d more", len(problems)-40))
		}
		t.Errorf("stored lines are not every written line exactly once in order (%d rows for %d lines):\n%s\nagent log (tail):\n%s",
			len(rows), total, strings.Join(problems, "\n"), ag.logTail(plan.agentLogTail))
		return
	}
	t.Logf("%d lines in %d files stored exactly once in order; %d agent kills, total run %v",
		total, len(writers), ag.kills, time.Since(began).Round(time.Second))
}

// checkSoakRows checks rows (time order) against the number of lines
// written per file: each file's lines 0..n-1 appear once, in order.
func checkSoakRows(rows []soakRow, written map[string]int) []string {
	var problems []string
	next := map[string]int{}
	seen := map[string]map[int]int{}
	for i, r := range rows {
		m := soakLineRE.FindStringSubmatch(r.Line)
		if m == nil {
			problems = append(problems, fmt.Sprintf("row %d: unexpected line %q", i, r.Line))
			continue
		}
		file := m[1]
		seq, _ := strconv.Atoi(m[2])
		if seen[file] == nil {
			seen[file] = map[int]int{}
		}
		seen[file][seq]++
		if seen[file][seq] > 1 {
			problems = append(problems, fmt.Sprintf("%s line %d stored %d times", file, seq, seen[file][seq]))
			continue
		}
		if seq != next[file] {
			problems = append(problems, fmt.Sprintf("%s: line %d follows line %d", file, seq, next[file]-1))
		}
		next[file] = seq + 1
	}
	for file, n := range written {
		missing := 0
		first := -1
		for seq := range n {
			if seen[file][seq] == 0 {
				if first < 0 {
					first = seq
				}
				missing++
			}
		}
		if missing > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d of %d lines missing, the first is %d", file, missing, n, first))
		}
	}
	return problems
}

// checkAgentLag reads the agent's /metrics once everything is stored:
// every file's lag in bytes (unread) and in seconds (unacknowledged) must
// be zero.
func checkAgentLag(t *testing.T, metricsURL string) []string {
	t.Helper()
	var problems []string
	Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		problems = problems[:0]
		lagBytes := 0
		for _, line := range strings.Split(string(b), "\n") {
			name, rest, ok := strings.Cut(line, "{")
			if !ok || (name != "sightline_agent_file_lag_bytes" && name != "sightline_agent_file_lag_seconds") {
				continue
			}
			if name == "sightline_agent_file_lag_bytes" {
				lagBytes++
			}
			if v := rest[strings.LastIndexByte(rest, ' ')+1:]; v != "0" {
				problems = append(problems, "agent metric not zero at the end: "+line)
			}
		}
		if lagBytes == 0 {
			return fmt.Errorf("no sightline_agent_file_lag_bytes in the agent's metrics:\n%.2000s", b)
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s", strings.Join(problems, "\n"))
		}
		return nil
	})
	return problems
}

var soakLineRE = regexp.MustCompile(`^ts=\S+ file=(f\d+) seq=(\d+) `)

type soakRow struct {
	TS   int64  `json:"ts"`
	Line string `json:"line"`
}

// soakQuery pages through /api/v1/logs/query, oldest first.
func soakQuery(t *testing.T, s *Server, since time.Time) []soakRow {
	t.Helper()
	var out []soakRow
	cursor := ""
	for {
		v := url.Values{"query": {`{service_name="soak"}`}, "direction": {"forward"}, "limit": {"1000"},
			"start": {since.Format(time.RFC3339Nano)}, "end": {time.Now().Add(time.Minute).Format(time.RFC3339Nano)}}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		resp, err := http.Get(s.URL + "/api/v1/logs/query?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("logs query: %d %s", resp.StatusCode, b)
		}
		var body struct {
			Data struct {
				Rows       []soakRow `json:"rows"`
				NextCursor string    `json:"next_cursor"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("logs query: %v: %.200s", err, b)
		}
		page := body.Data
		out = append(out, page.Rows...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// soakWriter appends numbered lines to one file and rotates it. Lines carry
// a strictly increasing timestamp, so time order is write order.
type soakWriter struct {
	dir, name string
	path      string
	f         *os.File
	seq       int
	gen       int
	lastTS    time.Time
	pad       string
	buf       []byte
	rest      []byte // the unwritten end of a line written in two parts
}

func newSoakWriter(dir string, i int) (*soakWriter, error) {
	w := &soakWriter{dir: dir, name: fmt.Sprintf("f%d", i), pad: strings.Repeat(string(rune('a'+i)), 40+20*i)}
	w.path = filepath.Join(dir, w.name+".log")
	var err error
	w.f, err = os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	return w, err
}

// writeLine writes the next line; every seventh line is written in two
// parts, one tick apart, so that the agent meets unterminated lines (and is
// sometimes killed while one is pending). It reports whether a line was
// completed.
func (w *soakWriter) writeLine() (bool, error) {
	if len(w.rest) > 0 {
		_, err := w.f.Write(w.rest)
		w.rest = w.rest[:0]
		w.seq++
		return true, err
	}
	ts := time.Now().UTC()
	if !ts.After(w.lastTS) {
		ts = w.lastTS.Add(time.Microsecond)
	}
	w.lastTS = ts
	w.buf = fmt.Appendf(w.buf[:0], "ts=%s file=%s seq=%07d msg=\"soak line\" pad=%s\n", ts.Format("2006-01-02T15:04:05.000000Z07:00"), w.name, w.seq, w.pad)
	line := w.buf
	if w.seq%7 == 3 {
		half := len(line) / 2
		w.rest = append(w.rest[:0], line[half:]...)
		_, err := w.f.Write(line[:half])
		return false, err
	}
	if _, err := w.f.Write(line); err != nil {
		return false, err
	}
	w.seq++
	return true, nil
}

// rotate alternates styles per file: f0 is always renamed, f1 always
// copytruncated, the others alternate. The writer is paused meanwhile (as
// logrotate's copytruncate would lose lines written between copy and
// truncate otherwise, which is not what is tested here).
func (w *soakWriter) rotate() (string, error) {
	w.gen++
	rotated := fmt.Sprintf("%s.%d", w.path, w.gen)
	rename := w.name == "f0" || (w.name != "f1" && w.gen%2 == 0)
	if rename {
		if err := w.f.Close(); err != nil {
			return "", err
		}
		if err := os.Rename(w.path, rotated); err != nil {
			return "", err
		}
		var err error
		w.f, err = os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		return "rename", err
	}
	src, err := os.Open(w.path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.OpenFile(rotated, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	if err := dst.Close(); err != nil {
		return "", err
	}
	return "copytruncate", w.f.Truncate(0)
}

func (w *soakWriter) close() error { return w.f.Close() }

// agentProc is a `sightline agent` process that can be killed and started
// again with the same arguments.
type agentProc struct {
	t      *testing.T
	args   []string
	mu     sync.Mutex // guards cmd, exited, log, kills
	cmd    *exec.Cmd
	exited chan struct{}
	log    strings.Builder
	kills  int
}

func (a *agentProc) start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	cmd := exec.Command(binary, a.args...)
	fmt.Fprintf(&a.log, "--- agent start %s\n", time.Now().Format(time.TimeOnly))
	cmd.Stdout = io.Discard
	cmd.Stderr = &lockedWriter{mu: &a.mu, w: &a.log}
	if err := cmd.Start(); err != nil {
		a.t.Errorf("start agent: %v", err)
		return
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	a.cmd, a.exited = cmd, exited
}

// kill sends SIGKILL and waits for the process to go.
func (a *agentProc) kill() {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.kills++
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// stop sends SIGTERM and expects a clean exit.
func (a *agentProc) stop() {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			a.t.Errorf("agent exited with code %d after SIGTERM:\n%s", code, a.logTail(40))
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		a.t.Errorf("agent did not stop within 30s of SIGTERM")
	}
}

func (a *agentProc) logTail(n int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	lines := strings.Split(strings.TrimRight(a.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// freePorts returns n distinct 127.0.0.1 addresses free right now.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}
