package jsonline

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/logstore"
)

// benchBody returns n JSON lines shaped like loggen -format json output
// (~300 bytes: time, level, service, host, trace and span ids, logger,
// message; some with a nested HTTP object, a user id or an escaped stack
// trace).
func benchBody(n int) []byte {
	start := time.Date(2026, 11, 24, 19, 32, 0, 0, time.UTC)
	svcs := []string{"api-gateway", "auth", "cart", "catalog", "checkout", "inventory", "payment", "search"}
	levels := []string{"info", "info", "info", "debug", "debug", "warn", "info", "error"}
	var b []byte
	for i := range n {
		svc := svcs[i*7%len(svcs)]
		b = fmt.Appendf(b, `{"ts":"%s","level":"%s","service":"%s","host":"%s-5pdsb2g2hj-%05x"`,
			start.Add(time.Duration(i)*3600*time.Microsecond).Format("2006-01-02T15:04:05.000000Z"), levels[i%len(levels)], svc, svc, i*7919%(1<<20))
		if i%5 != 0 {
			b = fmt.Appendf(b, `,"trace_id":"%016x%016x","span_id":"%016x"`, uint64(i)*0x9e3779b97f4a7c15, uint64(i)*0xbf58476d1ce4e5b9, uint64(i)*0x94d049bb133111eb)
		}
		b = fmt.Appendf(b, `,"logger":"worker.go:%d"`, i%300)
		switch i % 4 {
		case 0:
			b = fmt.Appendf(b, `,"http":{"method":"GET","path":"/api/v1/items/%d","status":%d,"latency_ms":%d.%03d}`, i%1000, 200+i%3*100, i%400, i%1000)
		case 1:
			b = fmt.Appendf(b, `,"user_id":"u-%06d"`, i%100000)
		}
		b = fmt.Appendf(b, `,"msg":"calling search GET /api/v1/search/suggest?q=shoes attempt=%d previous_error=timeout backoff_ms=%d"`, i%3, i%500)
		if i%300 == 7 {
			b = append(b, `,"error":"timeout","stack_trace":"java.net.SocketTimeoutException: Read timed out\n\tat com.acme.Client.call(Client.java:42)\n\tat com.acme.Service.handle(Service.java:17)"`...)
		}
		b = append(b, "}\n"...)
	}
	return b
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecode decodes 1 MiB request bodies of loggen-like JSON lines
// with the mapping the VictoriaLogs comparison uses (ts, msg, service as
// stream). "lines/cpu-s" is per CPU-second of the process (GC included):
// the machine is shared, so wall time is not a fair figure.
func BenchmarkDecode(b *testing.B) {
	body := benchBody(3500)
	s, _ := logstore.NewSchema(logstore.Options{})
	jm := logstore.DefaultJSONMapping()
	jm.TimeFields, jm.MessageFields = []string{"ts"}, []string{"msg"}
	jm.StreamFields = []logstore.StreamLabel{{From: "service", To: "service"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	c0 := cpuNow()
	lines := 0
	for b.Loop() {
		rows, err := Decode(s, "", body, jm, 0)
		if err != nil {
			b.Fatal(err)
		}
		lines += len(rows)
	}
	b.ReportMetric(float64(lines)/(cpuNow()-c0).Seconds(), "lines/cpu-s")
}
