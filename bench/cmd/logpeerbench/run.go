package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure one run against one server.
type Options struct {
	Target   string // sightline, victorialogs or loki
	URL      string // server base URL
	PID      int    // server process, for CPU accounting
	In       string // loggen -format json output
	Stats    string // loggen -stats output
	DataDir  string // the server's data directory, for disk usage
	Version  string // free text recorded with the result
	Out      string // result JSON file
	Batch    int    // raw line bytes per ingest request
	Conc     int    // concurrent ingest requests
	Runs     int    // warm runs per query
	Settle   time.Duration
	MaxWait  time.Duration
	IdleCPU  float64 // CPU-seconds per second under which the server counts as idle
	Profile  string  // comma-separated "ingest" and query names: CPU-profile the server during the ingest or extra runs of those queries
	ProfDir  string  // where profiles go
	ProfSecs int
}

// profiles reports whether what is listed in o.Profile.
func (o Options) profiles(what string) bool {
	return slices.Contains(strings.Split(o.Profile, ","), what)
}

// Validate reports missing or nonsensical options.
func (o Options) Validate() error {
	switch {
	case o.URL == "" || o.PID <= 0 || o.In == "" || o.Stats == "" || o.DataDir == "" || o.Out == "":
		return errors.New("validate options: -url, -pid, -in, -stats, -data-dir and -out are required")
	case o.Batch < 1024 || o.Conc < 1 || o.Runs < 1:
		return errors.New("validate options: -batch ≥ 1024, -c ≥ 1 and -runs ≥ 1")
	case o.Settle < 0 || o.MaxWait < o.Settle || o.IdleCPU <= 0:
		return errors.New("validate options: need 0 ≤ -settle ≤ -max-wait and -idle-cpu > 0")
	}
	return nil
}

// Result is what one run measured; `logpeerbench table` prints them.
type Result struct {
	Target        string           `json:"target"`
	Version       string           `json:"version"`
	Lines         int64            `json:"lines"`
	RawBytes      int64            `json:"raw_bytes"`
	Requests      int              `json:"requests"`
	RequestBytes  int64            `json:"request_bytes"`
	Retries       int64            `json:"retries"`
	IngestWallS   float64          `json:"ingest_wall_s"`
	IngestCPUS    float64          `json:"ingest_cpu_s"`  // until the last request was acknowledged
	SettledCPUS   float64          `json:"settled_cpu_s"` // plus flush and background work until idle
	SettleWallS   float64          `json:"settle_wall_s"`
	Flush         string           `json:"flush"`
	Profile       string           `json:"profile,omitempty"` // of the ingest, with -profile ingest
	DiskBytes     int64            `json:"disk_bytes"`
	ApparentBytes int64            `json:"apparent_bytes"`
	DiskByDir     map[string]int64 `json:"disk_by_dir"`
	Queries       []QueryResult    `json:"queries"`
}

// QueryResult is one query's timings.
type QueryResult struct {
	Name      string    `json:"name"`
	Text      string    `json:"text"`
	Want      answer    `json:"want"`
	Got       answer    `json:"got"`
	Correct   bool      `json:"correct"`
	Error     string    `json:"error,omitempty"`
	FirstMS   float64   `json:"first_ms"`
	MedianMS  float64   `json:"median_ms"`
	CPUMSPer  float64   `json:"cpu_ms_per_run"` // server CPU over the warm runs / runs
	RunsMS    []float64 `json:"runs_ms"`
	Profile   string    `json:"profile,omitempty"`
	WarmRuns  int       `json:"warm_runs"`
	WrongRuns int       `json:"wrong_runs"`
}

func runCmd(args []string) error {
	var o Options
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.Target, "target", "sightline", "sightline | victorialogs | loki")
	fs.StringVar(&o.URL, "url", "", "server base URL")
	fs.IntVar(&o.PID, "pid", 0, "server PID (CPU accounting)")
	fs.StringVar(&o.In, "in", "", "loggen -format json output file")
	fs.StringVar(&o.Stats, "stats", "", "loggen -stats file (ground truth)")
	fs.StringVar(&o.DataDir, "data-dir", "", "server data directory (disk usage)")
	fs.StringVar(&o.Version, "version", "", "version text recorded with the result")
	fs.StringVar(&o.Out, "out", "", "write the result JSON here")
	fs.IntVar(&o.Batch, "batch", 1<<20, "raw line bytes per ingest request")
	fs.IntVar(&o.Conc, "c", 2, "concurrent ingest requests")
	fs.IntVar(&o.Runs, "runs", 10, "warm runs per query (after one first run)")
	fs.DurationVar(&o.Settle, "settle", 15*time.Second, "least time to wait after ingest before measuring disk (sightline flushes its head every 10 s)")
	fs.DurationVar(&o.MaxWait, "max-wait", 3*time.Minute, "longest wait for the server to become idle after ingest")
	fs.Float64Var(&o.IdleCPU, "idle-cpu", 0.05, "server CPU-seconds per second under which it counts as idle")
	fs.StringVar(&o.Profile, "profile", "", "comma-separated: ingest and/or query names to CPU-profile on the server (/debug/pprof/profile): from the ingest's start, or during extra runs of the query")
	fs.StringVar(&o.ProfDir, "profile-dir", ".", "directory for -profile output")
	fs.IntVar(&o.ProfSecs, "profile-seconds", 10, "length of the -profile capture")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return run(context.Background(), o)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}

func run(ctx context.Context, o Options) error {
	st, err := readStats(o.Stats)
	if err != nil {
		return err
	}
	t, err := newTarget(o.Target, o.URL)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(o.In)
	if err != nil {
		return fmt.Errorf("read data: %w", err)
	}
	lines := splitLines(raw)
	if int64(len(lines)) != st.Lines {
		return fmt.Errorf("data has %d lines, stats say %d", len(lines), st.Lines)
	}
	if err := st.countNeedles(lines); err != nil {
		return err
	}
	bodies, err := t.bodies(lines, o.Batch)
	if err != nil {
		return fmt.Errorf("build %s requests: %w", o.Target, err)
	}
	res := Result{Target: o.Target, Version: o.Version, Lines: int64(len(lines)), RawBytes: int64(len(raw)), Requests: len(bodies)}
	for _, b := range bodies {
		res.RequestBytes += int64(len(b))
	}
	raw, lines = nil, nil
	client := &http.Client{Timeout: 10 * time.Minute}
	logf("%s: %d lines (%.1f MB) in %d requests of %.1f MB total", o.Target, res.Lines, float64(res.RawBytes)/1e6, res.Requests, float64(res.RequestBytes)/1e6)

	if err := ingest(ctx, client, t, bodies, o, &res); err != nil {
		return err
	}
	bodies = nil
	if err := settle(ctx, client, t, o, &res); err != nil {
		return err
	}
	res.DiskBytes, res.ApparentBytes, res.DiskByDir, err = diskUsage(o.DataDir)
	if err != nil {
		return err
	}
	logf("%s: disk %.1f MB allocated (%.1f B/line), %v", o.Target, float64(res.DiskBytes)/1e6, float64(res.DiskBytes)/float64(res.Lines), res.DiskByDir)

	for _, q := range t.queries(st, rangeFor(st)) {
		qr := measureQuery(ctx, client, q, o)
		res.Queries = append(res.Queries, qr)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.WriteFile(o.Out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	for _, q := range res.Queries {
		if !q.Correct { // the table marks it; the peer is still measured
			logf("%s: WRONG: query %s answered %v, want %v %s", o.Target, q.Name, q.Got, q.Want, q.Error)
		}
	}
	return nil
}

// ingest sends every body with o.Conc workers, retrying 429 and 503
// answers, and records wall time and the server's CPU seconds.
func ingest(ctx context.Context, c *http.Client, t target, bodies [][]byte, o Options, res *Result) error {
	cpu0, err := cpuSeconds(o.PID)
	if err != nil {
		return err
	}
	start := time.Now()
	if o.profiles("ingest") {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			res.Profile = captureProfile(ctx, c, o, "ingest")
		}()
	}
	work := make(chan []byte)
	var (
		wg       sync.WaitGroup
		retries  atomic.Int64
		firstErr error
		errOnce  sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range o.Conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for {
					_, err := do(ctx, c, http.MethodPost, t.ingestURL(), t.contentType(), b)
					var se *statusError
					if errors.As(err, &se) && (se.code == http.StatusTooManyRequests || se.code == http.StatusServiceUnavailable) {
						retries.Add(1)
						time.Sleep(200 * time.Millisecond)
						continue
					}
					if err != nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("ingest into %s: %w", o.Target, err); cancel() })
					}
					break
				}
			}
		}()
	}
feed:
	for _, b := range bodies {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	res.IngestWallS = time.Since(start).Seconds()
	cpu1, err := cpuSeconds(o.PID)
	if err != nil {
		return err
	}
	res.IngestCPUS = cpu1 - cpu0
	res.Retries = retries.Load()
	res.SettledCPUS = res.IngestCPUS
	logf("%s: ingest %.1f s wall, %.1f CPU-s at last ack (%.0f lines per CPU-second), %d retries", o.Target, res.IngestWallS, res.IngestCPUS, float64(res.Lines)/res.IngestCPUS, res.Retries)
	return nil
}

// settle flushes the server, then waits at least o.Settle and until its
// CPU use has stayed under o.IdleCPU for two consecutive seconds, adding
// the CPU spent meanwhile to the ingest's.
func settle(ctx context.Context, c *http.Client, t target, o Options, res *Result) error {
	cpu0, err := cpuSeconds(o.PID)
	if err != nil {
		return err
	}
	start := time.Now()
	desc, err := t.flush(ctx, c)
	if err != nil {
		return fmt.Errorf("flush %s: %w", o.Target, err)
	}
	res.Flush = desc
	if desc == "" {
		res.Flush = fmt.Sprintf("none (waited ≥ %s)", o.Settle)
	}
	prev, idle := cpu0, 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		cur, err := cpuSeconds(o.PID)
		if err != nil {
			return err
		}
		if cur-prev < o.IdleCPU {
			idle++
		} else {
			idle = 0
		}
		prev = cur
		el := time.Since(start)
		if (el >= o.Settle && idle >= 2) || el >= o.MaxWait {
			break
		}
	}
	res.SettleWallS = time.Since(start).Seconds()
	res.SettledCPUS = res.IngestCPUS + prev - cpu0
	logf("%s: settled after %.0f s; %.1f CPU-s in total (%.0f lines per CPU-second)", o.Target, res.SettleWallS, res.SettledCPUS, float64(res.Lines)/res.SettledCPUS)
	return nil
}

// measureQuery runs q once (first run) and o.Runs more times, checking
// every answer, and optionally profiles the server during extra runs.
func measureQuery(ctx context.Context, c *http.Client, q query, o Options) QueryResult {
	qr := QueryResult{Name: q.Name, Text: q.Text, Want: q.Want, Correct: true, WarmRuns: o.Runs}
	once := func() (float64, bool) {
		t0 := time.Now()
		a, err := q.run(ctx, c)
		ms := float64(time.Since(t0).Microseconds()) / 1000
		if err != nil {
			qr.Error = err.Error()
			qr.Correct = false
			return ms, false
		}
		qr.Got = a
		if !a.equal(q.Want) {
			qr.Correct = false
			qr.WrongRuns++
		}
		return ms, true
	}
	qr.FirstMS, _ = once()
	cpu0, _ := cpuSeconds(o.PID)
	for range o.Runs {
		ms, ok := once()
		if !ok {
			break
		}
		qr.RunsMS = append(qr.RunsMS, ms)
	}
	cpu1, _ := cpuSeconds(o.PID)
	if n := len(qr.RunsMS); n > 0 {
		s := slices.Clone(qr.RunsMS)
		slices.Sort(s)
		qr.MedianMS = (s[(n-1)/2] + s[n/2]) / 2
		qr.CPUMSPer = (cpu1 - cpu0) * 1000 / float64(n)
	}
	logf("%s: %s: %v (want %v) first %.1f ms, median %.1f ms of %d, %.1f ms server CPU per run %s",
		o.Target, q.Name, qr.Got, q.Want, qr.FirstMS, qr.MedianMS, len(qr.RunsMS), qr.CPUMSPer, qr.Error)
	if o.profiles(q.Name) && qr.Error == "" {
		qr.Profile = profileDuring(ctx, c, q, o)
	}
	return qr
}

// profileDuring captures the server's /debug/pprof/profile while running q
// in a loop and returns the profile's file name ("" on failure).
func profileDuring(ctx context.Context, c *http.Client, q query, o Options) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			_, _ = q.run(ctx, c)
		}
	}()
	return captureProfile(ctx, c, o, q.Name)
}

// captureProfile saves the server's /debug/pprof/profile over the next
// o.ProfSecs seconds and returns the file name ("" on failure).
func captureProfile(ctx context.Context, c *http.Client, o Options, what string) string {
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", o.URL, o.ProfSecs)
	b, err := do(context.WithoutCancel(ctx), c, http.MethodGet, u, "", nil)
	if err != nil {
		logf("%s: profile %s: %v", o.Target, what, err)
		return ""
	}
	name := fmt.Sprintf("%s/%s-%s.pprof", o.ProfDir, o.Target, what)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		logf("%s: write profile: %v", o.Target, err)
		return ""
	}
	logf("%s: profile of %s in %s", o.Target, what, name)
	return name
}
