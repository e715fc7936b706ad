package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func fadviseDontNeed(fd int) error { return unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED) }

func runSend(args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	metaFile := fs.String("meta", "", "meta file from gen-meta")
	addr := fs.String("addr", "127.0.0.1:4317", "OTLP gRPC address")
	conns := fs.Int("conns", 2, "concurrent exporters")
	batch := fs.Int("batch-traces", 32, "traces per export request (~560 spans)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := readMeta(*metaFile)
	if err != nil {
		return err
	}
	g, err := m.gen()
	if err != nil {
		return err
	}
	// Generate every request first so the sender's own CPU does not compete
	// with the server while it is measured.
	var reqs []ptraceotlp.ExportRequest
	var bytes int64
	if err := sendBatches(g, m.Traces, *batch, func(td ptrace.Traces, _ int) error {
		req := ptraceotlp.NewExportRequestFromTraces(td)
		b, err := req.MarshalProto()
		if err != nil {
			return fmt.Errorf("marshal request: %w", err)
		}
		bytes += int64(len(b))
		reqs = append(reqs, req)
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("send: %d traces, %d spans, %d requests, %.1f MB OTLP protobuf (%.0f B/span)\n", m.Traces, m.Spans, len(reqs), float64(bytes)/1e6, float64(bytes)/float64(m.Spans))
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("send: dial %s: %w", *addr, err)
	}
	defer conn.Close()
	cl := ptraceotlp.NewGRPCClient(conn)
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var err error
				for try := 0; try < 50; try++ {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					_, err = cl.Export(ctx, reqs[i])
					cancel()
					if err == nil {
						break
					}
					time.Sleep(200 * time.Millisecond) // overload: retry as an SDK would
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("export request %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("send: %w", firstErr)
	}
	fmt.Printf("send: done in %.1f s wall (%.0f spans/s wall)\n", time.Since(t0).Seconds(), float64(m.Spans)/time.Since(t0).Seconds())
	return nil
}

// jaegerTrace is the part of the Jaeger query API's trace JSON we check.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID    string `json:"spanID"`
		Duration  int64  `json:"duration"` // µs
		ProcessID string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerResp struct {
	Data   []jaegerTrace `json:"data"`
	Errors []any         `json:"errors"`
}

func getJSON(cl *http.Client, u string) (jaegerResp, time.Duration, error) {
	var out jaegerResp
	t0 := time.Now()
	resp, err := cl.Get(u)
	if err != nil {
		return out, 0, fmt.Errorf("get %s: %w", u, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return out, d, fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, d, fmt.Errorf("get %s: %s: %.200s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, d, fmt.Errorf("decode %s: %w", u, err)
	}
	return out, d, nil
}

// checkJaegerTrace verifies a trace from the Jaeger API against the generator.
func checkJaegerTrace(t jaegerTrace, want TraceInfo) error {
	if t.TraceID != hex.EncodeToString(want.ID[:]) {
		return fmt.Errorf("trace id %s, want %x", t.TraceID, want.ID)
	}
	if len(t.Spans) != len(want.SpanIDs) {
		return fmt.Errorf("trace %x: %d spans, want %d", want.ID, len(t.Spans), len(want.SpanIDs))
	}
	got := map[string]bool{}
	for _, s := range t.Spans {
		got[s.SpanID] = true
	}
	for _, id := range want.SpanIDs {
		if !got[hex.EncodeToString(id[:])] {
			return fmt.Errorf("trace %x: span %x missing", want.ID, id)
		}
	}
	return nil
}

func runAPI(args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	metaFile := fs.String("meta", "", "meta file from gen-meta")
	base := fs.String("url", "http://127.0.0.1:16686", "query API base URL")
	n := fs.Int("n", 300, "trace-by-id lookups")
	all := fs.Bool("all", false, "also fetch and verify every stored trace by id")
	searches := fs.Int("searches", 60, "searches")
	seed := fs.Uint64("seed", 99, "seed choosing ids and services")
	v3 := fs.Bool("search-v3", false, "search through /api/v3/traces (OTLP JSON; Jaeger v2 builds that dropped the legacy /api/traces search)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := readMeta(*metaFile)
	if err != nil {
		return err
	}
	g, err := m.gen()
	if err != nil {
		return err
	}
	cl := &http.Client{Timeout: time.Minute}
	r := rand.New(rand.NewPCG(*seed, 1))
	byID := func(k int) (time.Duration, error) {
		want := g.Info(k)
		resp, d, err := getJSON(cl, *base+"/api/traces/"+hex.EncodeToString(want.ID[:]))
		if err != nil {
			return d, err
		}
		if len(resp.Data) != 1 {
			return d, fmt.Errorf("trace %x: %d traces returned", want.ID, len(resp.Data))
		}
		return d, checkJaegerTrace(resp.Data[0], want)
	}
	if *all {
		bad := 0
		var firstErr error
		for k := 0; k < m.Traces; k++ {
			if _, err := byID(k); err != nil {
				bad++
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		fmt.Printf("  all %d traces by id: %d wrong or missing\n", m.Traces, bad)
		if firstErr != nil {
			fmt.Printf("  first problem: %v\n", firstErr)
		}
	}
	ks := make([]int, *n)
	for i := range ks {
		ks[i] = r.IntN(m.Traces)
	}
	for pass := 1; pass <= 2; pass++ {
		var l latencies
		for _, k := range ks {
			d, err := byID(k)
			if err != nil {
				return err
			}
			l = append(l, d)
		}
		fmt.Printf("  GET /api/traces/<id> pass %d: %s (all verified)\n", pass, l)
	}
	var sl latencies
	var got int
	start := m.Base.Add(-time.Minute).UnixMicro()
	end := m.Base.Add(time.Duration(m.Traces)*time.Duration(m.StepNS) + time.Minute).UnixMicro()
	for i := 0; i < *searches; i++ {
		svc := g.ServiceName(r.IntN(g.Services()))
		minDur := "500ms"
		if i%2 == 1 {
			minDur = "" // plain service search
		}
		if *v3 {
			q := url.Values{"query.serviceName": {svc}, "query.searchDepth": {"20"},
				"query.startTimeMin": {time.UnixMicro(start).UTC().Format(time.RFC3339Nano)},
				"query.startTimeMax": {time.UnixMicro(end).UTC().Format(time.RFC3339Nano)}}
			if minDur != "" {
				q.Set("query.durationMin", minDur)
			}
			n, d, err := searchV3(cl, *base+"/api/v3/traces?"+q.Encode(), svc, minDur != "")
			if err != nil {
				return fmt.Errorf("search %v: %w", q, err)
			}
			sl = append(sl, d)
			got += n
			continue
		}
		q := url.Values{"service": {svc}, "limit": {"20"}, "start": {strconv.FormatInt(start, 10)}, "end": {strconv.FormatInt(end, 10)}}
		if minDur != "" {
			q.Set("minDuration", minDur)
		}
		resp, d, err := getJSON(cl, *base+"/api/traces?"+q.Encode())
		if err != nil {
			return err
		}
		sl = append(sl, d)
		got += len(resp.Data)
		if len(resp.Data) > 20 {
			return fmt.Errorf("search %v: %d traces for limit 20", q, len(resp.Data))
		}
		for _, t := range resp.Data {
			if err := checkSearchHit(t, svc, minDur != "", g); err != nil {
				return fmt.Errorf("search %v: %w", q, err)
			}
		}
	}
	path := "/api/traces?service=…&limit=20"
	if *v3 {
		path = "/api/v3/traces?query.serviceName=…&query.searchDepth=20"
	}
	fmt.Printf("  GET %s (half with min duration 500ms): %s; %.1f traces per result (all verified)\n", path, sl, float64(got)/float64(max(1, *searches)))
	return nil
}

// checkSearchHit verifies a search result: the trace has a span of svc
// (longer than 500 ms when minDur) and all its spans, as generated.
func checkSearchHit(t jaegerTrace, svc string, minDur bool, g *Generator) error {
	ok := false
	for _, s := range t.Spans {
		if t.Processes[s.ProcessID].ServiceName == svc && (!minDur || s.Duration >= 500_000) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("trace %s has no span matching the query", t.TraceID)
	}
	if len(t.Spans) < 5 || len(t.Spans) > 30 {
		return fmt.Errorf("trace %s has %d spans, generated traces have 5–30", t.TraceID, len(t.Spans))
	}
	if _, err := hex.DecodeString(t.TraceID); err != nil {
		return errors.New("bad trace id " + t.TraceID)
	}
	return nil
}

// otlpJSON is the part of an OTLP JSON traces document we check.
type otlpJSON struct {
	Result struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []struct {
					Key   string `json:"key"`
					Value struct {
						StringValue string `json:"stringValue"`
					} `json:"value"`
				} `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Spans []struct {
					TraceID string `json:"traceId"`
					Start   string `json:"startTimeUnixNano"`
					End     string `json:"endTimeUnixNano"`
				} `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	} `json:"result"`
}

// searchV3 runs a Jaeger API v3 search and verifies each returned trace
// has a span of svc, a span of at least 500 ms when minDur (Jaeger's Badger
// store intersects its service and duration indexes per trace, so the two
// need not be the same span; sightline requires one span to match both)
// and 5–30 spans. A 404 is Jaeger's answer for no traces found.
func searchV3(cl *http.Client, u, svc string, minDur bool) (int, time.Duration, error) {
	t0 := time.Now()
	resp, err := cl.Get(u)
	if err != nil {
		return 0, 0, fmt.Errorf("get: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, d, fmt.Errorf("read: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return 0, d, nil
	}
	if resp.StatusCode != http.StatusOK {
		return 0, d, fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	var doc otlpJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, d, fmt.Errorf("decode: %w", err)
	}
	spans := map[string]int{}
	hasSvc, hasLong := map[string]bool{}, map[string]bool{}
	for _, rs := range doc.Result.ResourceSpans {
		service := ""
		for _, a := range rs.Resource.Attributes {
			if a.Key == "service.name" {
				service = a.Value.StringValue
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				spans[sp.TraceID]++
				st, _ := strconv.ParseInt(sp.Start, 10, 64)
				en, _ := strconv.ParseInt(sp.End, 10, 64)
				if service == svc {
					hasSvc[sp.TraceID] = true
				}
				if !minDur || en-st >= int64(500*time.Millisecond) {
					hasLong[sp.TraceID] = true
				}
			}
		}
	}
	if len(spans) > 20 {
		return 0, d, fmt.Errorf("%d traces for search depth 20", len(spans))
	}
	for id, n := range spans {
		if !hasSvc[id] || !hasLong[id] {
			return 0, d, fmt.Errorf("trace %s has no span of the service or none long enough", id)
		}
		if n < 5 || n > 30 {
			return 0, d, fmt.Errorf("trace %s has %d spans, generated traces have 5–30", id, n)
		}
	}
	return len(spans), d, nil
}
