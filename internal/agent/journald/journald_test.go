package journald

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.uber.org/goleak"

	"github.com/sightline/sightline/internal/agent/buffer"
	"github.com/sightline/sightline/internal/agent/relay"
	"github.com/sightline/sightline/internal/agent/ship"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDecodeEntry(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Entry
		err  bool
	}{
		{"full", `{"__CURSOR":"s=1;i=a","__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"started","PRIORITY":"6","_SYSTEMD_UNIT":"nginx.service","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"nginx","_PID":"42","_TRANSPORT":"stdout"}`,
			Entry{Cursor: "s=1;i=a", Time: time.UnixMicro(1700000000123456).UTC(), Message: "started", Priority: 6, Unit: "nginx.service", Hostname: "web1", Identifier: "nginx", PID: "42", Transport: "stdout"}, false},
		{"binary message", `{"__CURSOR":"c","MESSAGE":[104,105,255]}`, Entry{Cursor: "c", Message: "hi\xff", Priority: -1}, false},
		{"repeated field keeps first", `{"__CURSOR":"c","MESSAGE":["a","b"]}`, Entry{Cursor: "c", Message: "a", Priority: -1}, false},
		{"null field", `{"__CURSOR":"c","MESSAGE":null}`, Entry{Cursor: "c", Priority: -1}, false},
		{"bad priority ignored", `{"__CURSOR":"c","PRIORITY":"9"}`, Entry{Cursor: "c", Priority: -1}, false},
		{"no cursor", `{"MESSAGE":"x"}`, Entry{}, true},
		{"bad timestamp", `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"soon"}`, Entry{}, true},
		{"not an object", `[1,2]`, Entry{}, true},
		{"number field", `{"__CURSOR":"c","MESSAGE":5}`, Entry{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEntry([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("want error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLevelAndService(t *testing.T) {
	for p, want := range map[int]string{-1: "", 0: "fatal", 2: "fatal", 3: "error", 4: "warn", 5: "info", 6: "info", 7: "debug"} {
		e := Entry{Priority: p}
		if got := e.Level(); got != want {
			t.Errorf("priority %d: %q, want %q", p, got, want)
		}
	}
	if s := (&Entry{Unit: "cron.service", Identifier: "CRON"}).Service(); s != "cron" {
		t.Errorf("service %q", s)
	}
	if s := (&Entry{Identifier: "kernel"}).Service(); s != "kernel" {
		t.Errorf("service %q", s)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"__CURSOR":"s=1;i=a","__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"started","PRIORITY":"6","_SYSTEMD_UNIT":"nginx.service"}`))
	f.Add([]byte(`{"__CURSOR":"c","MESSAGE":[104,105,255]}`))
	f.Add([]byte(`{"__CURSOR":"c","MESSAGE":["a",[1,2]]}`))
	f.Add([]byte(`{"__CURSOR":"c","MESSAGE":null}`))
	f.Add([]byte(`{"__CURSOR":"c\u00e9","MESSAGE":"tab\there \"q\"","message":"lower"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		if e.Cursor == "" {
			t.Fatal("entry without cursor accepted")
		}
		if e.Priority < -1 || e.Priority > 7 {
			t.Fatalf("priority %d", e.Priority)
		}
		// String fields read without encoding/json must agree with it.
		var ref struct {
			Message any `json:"MESSAGE"`
			Cursor  any `json:"__CURSOR"`
		}
		if json.Unmarshal(b, &ref) == nil {
			if m, ok := ref.Message.(string); ok && m != e.Message {
				t.Fatalf("MESSAGE %q, encoding/json says %q", e.Message, m)
			}
			if c, ok := ref.Cursor.(string); ok && c != e.Cursor {
				t.Fatalf("__CURSOR %q, encoding/json says %q", e.Cursor, c)
			}
		}
		nb := newBatch(map[string]string{"env": "x"})
		nb.add(&e)
		if _, err := nb.marshal(); err != nil {
			t.Fatal(err)
		}
	})
}

// journal is a fake journal file read by testdata/journalctl.
type journal struct {
	t    *testing.T
	path string
	n    int
}

func (j *journal) append(k int) {
	f, err := os.OpenFile(j.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		j.t.Fatal(err)
	}
	defer f.Close()
	var sb strings.Builder
	for range k {
		j.n++
		e := map[string]string{"__CURSOR": fmt.Sprintf("s=abc;i=%x;b=1", j.n), "__REALTIME_TIMESTAMP": fmt.Sprint(1700000000000000 + j.n), "MESSAGE": fmt.Sprintf("entry %d", j.n),
			"PRIORITY": fmt.Sprint(j.n % 8), "_SYSTEMD_UNIT": []string{"a.service", "b.service"}[j.n%2], "_HOSTNAME": "h1"}
		b, _ := json.Marshal(e)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	if _, err := f.WriteString(sb.String()); err != nil { // one write: whole lines
		j.t.Fatal(err)
	}
}

// server is a Deliverer that keeps delivered records and drops exact
// retries by batch id, as the sightline server does.
type server struct {
	mu     sync.Mutex
	down   bool
	ids    map[string]bool
	msgs   []string
	dupes  int
	levels map[string]string
	svcs   map[string]string
}

func newServer() *server {
	return &server{ids: map[string]bool{}, levels: map[string]string{}, svcs: map[string]string{}}
}

func (s *server) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

func (s *server) Deliver(ctx context.Context, b *ship.Batch) error {
	for {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if !down {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(b.Logs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[b.ID] {
		s.dupes++
		return nil
	}
	s.ids[b.ID] = true
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		svc, _ := rls.At(i).Resource().Attributes().Get("service.name")
		lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			m := lrs.At(k).Body().Str()
			s.msgs = append(s.msgs, m)
			s.levels[m] = lrs.At(k).SeverityText()
			s.svcs[m] = svc.Str()
		}
	}
	return nil
}

func (s *server) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.msgs) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run starts an outbox and a reader; stop ends both without any flush
// beyond what a kill would leave.
func run(t *testing.T, dir string, opts Options, srv *server) (stop func()) {
	bo := buffer.DefaultOptions()
	bo.MaxBytes, bo.SegmentBytes = 1<<20, 8<<10
	out, err := relay.OpenOutbox(filepath.Join(dir, "outbox"), "journald", "agent", bo, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(opts, nil, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx) })
	wg.Go(func() { out.Run(ctx, srv) })
	return func() {
		cancel()
		wg.Wait()
		out.Close()
	}
}

// TestResumeExactlyOnce reads a fake journal while it grows, with
// restarts (one while the server is down, so batches wait in the outbox)
// and checks every entry arrives once, in order, and that journalctl was
// resumed with --after-cursor of the last stored batch.
func TestResumeExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	j := &journal{t: t, path: filepath.Join(dir, "journal.json")}
	t.Setenv("FAKE_JOURNAL", j.path)
	script, _ := filepath.Abs("testdata/journalctl")
	opts := DefaultOptions()
	opts.Enabled, opts.Command, opts.StartAtEnd = true, script, false
	opts.MaxWait, opts.MaxRecords, opts.RestartDelay = 20*time.Millisecond, 7, 50*time.Millisecond
	srv := newServer()

	j.append(30)
	stop := run(t, dir, opts, srv)
	waitFor(t, "first 30", func() bool { return srv.count() == 30 })
	j.append(20)
	time.Sleep(30 * time.Millisecond) // stop mid-stream: some of the 20 may be read
	stop()

	srv.setDown(true)
	stop = run(t, dir, opts, srv)
	j.append(25)
	time.Sleep(300 * time.Millisecond) // read into the outbox, not delivered
	stop()
	if srv.count() > 50 {
		t.Fatalf("delivered %d while the server was down", srv.count())
	}
	srv.setDown(false)
	stop = run(t, dir, opts, srv)
	j.append(5)
	waitFor(t, "all 80", func() bool { return srv.count() >= 80 })
	time.Sleep(100 * time.Millisecond) // any duplicate would arrive now
	stop()

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.msgs) != 80 {
		t.Fatalf("stored %d entries, want 80", len(srv.msgs))
	}
	for i, m := range srv.msgs {
		if want := fmt.Sprintf("entry %d", i+1); m != want {
			t.Fatalf("entry %d is %q, want %q", i, m, want)
		}
	}
	if srv.levels["entry 3"] != "error" || srv.levels["entry 7"] != "debug" || srv.svcs["entry 1"] != "b" || srv.svcs["entry 2"] != "a" {
		t.Fatalf("mapping: levels %v services %v", srv.levels["entry 3"], srv.svcs["entry 1"])
	}
	args, _ := os.ReadFile(j.path + ".args")
	runs := strings.Split(strings.TrimSpace(string(args)), "\n")
	if len(runs) < 3 || strings.Contains(runs[0], "--after-cursor") || !strings.Contains(runs[2], "--after-cursor=s=abc;i=") {
		t.Fatalf("journalctl runs:\n%s", args)
	}
}

func TestStartAtEndSkipsHistory(t *testing.T) {
	dir := t.TempDir()
	j := &journal{t: t, path: filepath.Join(dir, "journal.json")}
	t.Setenv("FAKE_JOURNAL", j.path)
	script, _ := filepath.Abs("testdata/journalctl")
	opts := DefaultOptions()
	opts.Enabled, opts.Command = true, script
	opts.MaxWait = 20 * time.Millisecond
	j.append(10)
	srv := newServer()
	stop := run(t, dir, opts, srv)
	defer stop()
	waitFor(t, "journalctl started", func() bool { _, err := os.Stat(j.path + ".args"); return err == nil })
	time.Sleep(100 * time.Millisecond)
	j.append(3)
	waitFor(t, "3 new", func() bool { return srv.count() == 3 })
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.msgs[0] != "entry 11" {
		t.Fatalf("first entry %q", srv.msgs[0])
	}
}

func TestArgs(t *testing.T) {
	o := DefaultOptions()
	o.Enabled, o.Units, o.Args = true, []string{"nginx.service"}, []string{"_TRANSPORT=kernel"}
	r, err := NewReader(o, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cursor string
		end    bool
		want   string
	}{
		{"c1", true, "--output=json --follow --no-pager --quiet --after-cursor=c1 --no-tail --unit=nginx.service _TRANSPORT=kernel"},
		{"", true, "--output=json --follow --no-pager --quiet --lines=0 --unit=nginx.service _TRANSPORT=kernel"},
		{"", false, "--output=json --follow --no-pager --quiet --no-tail --unit=nginx.service _TRANSPORT=kernel"},
	} {
		r.opts.StartAtEnd = tc.end
		if got := strings.Join(r.Args(tc.cursor), " "); got != tc.want {
			t.Errorf("cursor %q end %v:\n got %s\nwant %s", tc.cursor, tc.end, got, tc.want)
		}
	}
}

// BenchmarkDecodeAndBatch measures one journal entry from JSON line to
// a record in an OTLP batch; cpu-ns/entry is process CPU.
func BenchmarkDecodeAndBatch(b *testing.B) {
	line := []byte(`{"__CURSOR":"s=8b1c2d;i=1a2b3;b=5e6f;m=12345;t=5f0e1d2c3b4a;x=9a8b7c6d","__REALTIME_TIMESTAMP":"1700000000123456","__MONOTONIC_TIMESTAMP":"123456789","_BOOT_ID":"5e6f","PRIORITY":"6","_UID":"0","_GID":"0","_COMM":"nginx","_EXE":"/usr/sbin/nginx","_CMDLINE":"nginx: worker process","_SYSTEMD_UNIT":"nginx.service","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"nginx","_PID":"42","_TRANSPORT":"stdout","MESSAGE":"10.0.0.1 - - \"GET /api/items/7 HTTP/1.1\" 200 512 \"-\" \"curl/8.0\""}`)
	bt := newBatch(map[string]string{"env": "prod"})
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	start := ru.Utime.Nano() + ru.Stime.Nano()
	b.ResetTimer()
	for b.Loop() {
		e, err := DecodeEntry(line)
		if err != nil {
			b.Fatal(err)
		}
		bt.add(&e)
		if bt.n >= 5000 {
			if _, err := bt.marshal(); err != nil {
				b.Fatal(err)
			}
			bt = newBatch(bt.labels)
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Utime.Nano()+ru.Stime.Nano()-start)/float64(b.N), "cpu-ns/entry")
}
