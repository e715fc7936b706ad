package e2e

import (
	binenc "encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchBatch builds one export request of traces×spans realistic spans
// (~500 bytes of OTLP protobuf each: http and db attributes, 5 services).
func benchBatch(rng *rand.Rand, traces, spansPer int, at time.Time) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	svcs := []string{"frontend", "cart", "checkout", "payment", "catalog"}
	ss := make([]ptrace.SpanSlice, len(svcs))
	for i, name := range svcs {
		rs := td.ResourceSpans().AppendEmpty()
		a := rs.Resource().Attributes()
		a.PutStr("service.name", name)
		a.PutStr("service.version", "1.4.2")
		a.PutStr("host.name", "node-"+strconv.Itoa(i%3))
		a.PutStr("k8s.pod.name", name+"-7d9f8c6b5-x2x4q")
		a.PutStr("k8s.namespace.name", "shop")
		sc := rs.ScopeSpans().AppendEmpty()
		sc.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		sc.Scope().SetVersion("0.60.0")
		ss[i] = sc.Spans()
	}
	for t := 0; t < traces; t++ {
		var tid pcommon.TraceID
		binenc.LittleEndian.PutUint64(tid[:8], rng.Uint64())
		binenc.LittleEndian.PutUint64(tid[8:], rng.Uint64())
		start := at.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		var parent pcommon.SpanID
		for k := 0; k < spansPer; k++ {
			svc := k % len(svcs)
			sp := ss[svc].AppendEmpty()
			var sid pcommon.SpanID
			binenc.LittleEndian.PutUint64(sid[:], rng.Uint64())
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetParentSpanID(parent)
			parent = sid
			if k%2 == 0 {
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetName("GET /api/" + svcs[svc] + "/{id}")
			} else {
				sp.SetKind(ptrace.SpanKindClient)
				sp.SetName("SELECT " + svcs[svc])
				sp.Attributes().PutStr("db.system", "postgresql")
				sp.Attributes().PutStr("db.statement", "SELECT id, name, price FROM items WHERE id = $1")
			}
			st := start.Add(time.Duration(k) * time.Millisecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(st))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(st.Add(time.Duration(1+rng.IntN(50000)) * time.Microsecond)))
			a := sp.Attributes()
			a.PutStr("http.method", "GET")
			a.PutStr("http.url", "http://"+svcs[svc]+":8080/api/"+svcs[svc]+"/"+strconv.Itoa(rng.IntN(100000)))
			a.PutInt("http.status_code", 200)
			a.PutStr("net.peer.name", svcs[(svc+1)%len(svcs)])
			a.PutStr("user.id", "u-"+strconv.Itoa(rng.IntN(5000)))
			a.PutStr("http.user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
			a.PutStr("code.function", "github.com/shop/"+svcs[svc]+"/internal/handler.(*Server).Serve")
			a.PutStr("session.id", fmt.Sprintf("%016x", rng.Uint64()))
			a.PutInt("http.response_content_length", int64(rng.IntN(20000)))
			if rng.IntN(50) == 0 {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("upstream timeout")
			}
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func cpuSeconds(t testing.TB, s *Server) float64 {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "process_cpu_seconds_total ") {
			v, _ := strconv.ParseFloat(strings.TrimPrefix(line, "process_cpu_seconds_total "), 64)
			return v
		}
	}
	t.Fatal("no process_cpu_seconds_total")
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkTracesServer measures the real binary: span ingest over OTLP
// gRPC per server CPU-second, bytes per span on disk after a restart
// (flushed parts), trace-by-id and search latency through the Jaeger API.
// Spans: TRACES_BENCH_SPANS (default 200000), 10 per trace, 2 senders.
func BenchmarkTracesServer(b *testing.B) {
	total := 200_000
	if v, err := strconv.Atoi(os.Getenv("TRACES_BENCH_SPANS")); err == nil && v > 0 {
		total = v
	}
	const spansPer, tracesPerReq = 10, 50
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Now().Add(-10 * time.Minute)
	var reqs [][]byte
	var rawBytes int
	for n := 0; n < total; n += spansPer * tracesPerReq {
		r := benchBatch(rng, tracesPerReq, spansPer, at)
		p, _ := r.MarshalProto()
		rawBytes += len(p)
		reqs = append(reqs, p)
	}
	for i := 0; i < b.N; i++ {
		s := StartServer(b)
		conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		client := ptraceotlp.NewGRPCClient(conn)
		cpu0 := cpuSeconds(b, s)
		t0 := time.Now()
		// TRACES_BENCH_PPROF=file saves a 5s CPU profile of the server
		// taken while it ingests.
		profDone := make(chan struct{})
		if pf := os.Getenv("TRACES_BENCH_PPROF"); pf != "" {
			go func() {
				defer close(profDone)
				resp, err := http.Get(s.URL + "/debug/pprof/profile?seconds=5")
				if err != nil {
					return
				}
				defer resp.Body.Close()
				data, _ := io.ReadAll(resp.Body)
				_ = os.WriteFile(pf, data, 0o644)
			}()
		} else {
			close(profDone)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for j := w; j < len(reqs); j += 2 {
					req := ptraceotlp.NewExportRequest()
					if err := req.UnmarshalProto(reqs[j]); err != nil {
						panic(err)
					}
					for {
						_, err := client.Export(ctx(b), req)
						if err == nil {
							break
						}
						if !strings.Contains(err.Error(), "ResourceExhausted") {
							mu.Lock()
							firstErr = err
							mu.Unlock()
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}(w)
		}
		wg.Wait()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		wall := time.Since(t0)
		cpu := cpuSeconds(b, s) - cpu0
		<-profDone
		b.ReportMetric(float64(total)/cpu, "spans/cpu-s")
		b.ReportMetric(float64(total)/wall.Seconds(), "spans/s")
		b.ReportMetric(float64(rawBytes)/float64(total), "otlp-B/span")

		// Latencies: trace by id and search (warm: each run twice).
		var ts []jaegerTrace
		jaegerGet(b, s, "/api/traces", url.Values{"service": {"frontend"}, "limit": {"20"}}, &ts)
		if len(ts) == 0 {
			b.Fatal("search found nothing")
		}
		var byID, search []time.Duration
		for k := 0; k < 2; k++ {
			for _, tr := range ts {
				t1 := time.Now()
				var got []jaegerTrace
				jaegerGet(b, s, "/api/traces/"+tr.TraceID, nil, &got)
				if k == 1 {
					byID = append(byID, time.Since(t1))
				}
				if len(got) != 1 || len(got[0].Spans) != spansPer {
					b.Fatalf("trace %s: %d spans", tr.TraceID, len(got[0].Spans))
				}
			}
			for _, q := range []url.Values{
				{"service": {"cart"}, "limit": {"20"}},
				{"service": {"payment"}, "tags": {`{"error":"true"}`}, "limit": {"20"}},
				{"service": {"checkout"}, "minDuration": {"45ms"}, "limit": {"20"}},
			} {
				t1 := time.Now()
				jaegerGet(b, s, "/api/traces", q, nil)
				if k == 1 {
					search = append(search, time.Since(t1))
				}
			}
		}
		b.ReportMetric(float64(median(byID).Microseconds())/1000, "byid-ms")
		b.ReportMetric(float64(median(search).Microseconds())/1000, "search-ms")

		// Disk: stop (flushes the head into parts), measure the parts.
		s.Stop()
		conn.Close()
		if ps := s.cmd.ProcessState; ps != nil {
			all := (ps.UserTime() + ps.SystemTime()).Seconds()
			b.ReportMetric(float64(total)/all, "spans/process-cpu-s")
		}
		parts := dirSize(filepath.Join(s.DataDir, "events", "partitions"))
		b.ReportMetric(float64(parts)/float64(total), "disk-B/span")
		fmt.Fprintf(os.Stderr, "traces bench: %d spans in %v wall, %.2f CPU-s; parts %d bytes\n", total, wall, cpu, parts)
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}
