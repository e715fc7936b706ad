// Package gen generates deterministic benchmark data for the event store:
// microservice log records (JSON, logfmt and multi-line Java stack traces)
// carrying trace ids and rare "needle" tokens of exactly known counts, and
// OTLP-like spans. It also parses the log lines it writes into model.Events
// the way an ingest edge would (JSON flattened to dotted keys, logfmt pairs,
// text with a leading timestamp and level).
//
// A Generator is not safe for concurrent use; create one per goroutine.
package gen

import (
	"strconv"
	"time"
)

// Needle is a rare token with a known period: it occurs exactly once in
// every Period consecutive records.
type Needle struct {
	Word   string
	Period int
}

// Needles are appended to a record's message as " note=<word>".
var Needles = []Needle{{"zymurgy", 500_000}, {"quixotry", 50_000}, {"xanthic", 5_000}, {"jackdaw", 500}}

// NeedleCount returns how many of the first n records carry needle nd.
// Exact when n is a multiple of the period; otherwise it is the count of
// completed periods plus the partial one's occurrence if it fell inside.
func NeedleCount(nd Needle, n int, g *Generator) int {
	full := n / nd.Period
	c := full
	if rem := n % nd.Period; rem > 0 && g.needlePos(nd, full) < rem {
		c++
	}
	return c
}

// rng is splitmix64: tiny, fast, and deterministic across platforms.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func mix(x uint64) uint64 { r := rng(x); return r.next() }

type style uint8

const (
	styleJSON style = iota
	styleLogfmt
	styleJava
)

type service struct {
	name  string
	style style
	ops   []string
}

var services = func() []service {
	base := []service{
		{"api-gateway", styleJSON, []string{"GET /api/products", "GET /api/cart", "POST /api/checkout", "GET /api/orders"}},
		{"cart", styleJSON, []string{"add item", "remove item", "get cart", "empty cart"}},
		{"checkout", styleJava, []string{"placeOrder", "validateCart", "reserveStock"}},
		{"payment", styleLogfmt, []string{"charge", "refund", "authorize"}},
		{"shipping", styleLogfmt, []string{"quote", "ship order", "track"}},
		{"inventory", styleJava, []string{"checkStock", "decrement", "restock"}},
		{"recommendation", styleJSON, []string{"list recommendations", "score products"}},
		{"email", styleLogfmt, []string{"send confirmation", "render template"}},
		{"currency", styleJSON, []string{"convert", "get rates"}},
		{"fraud", styleJava, []string{"scoreTransaction", "lookupHistory"}},
	}
	// Several replicas/namespaces of the same services make ~60 streams.
	var out []service
	for _, ns := range []string{"shop", "shop-eu", "shop-us", "staging", "perf", "canary"} {
		for _, s := range base {
			s2 := s
			s2.name = ns + "/" + s.name
			out = append(out, s2)
		}
	}
	return out
}()

// Generator produces records one at a time.
type Generator struct {
	seed  uint64
	r     rng
	n     int // records produced
	start int64
	step  int64
	// trace state: current trace id and records left in it
	trace     [16]byte
	traceLeft int
	traceOrd  uint64
	buf       []byte
}

// New returns a generator whose records start at start and are step apart.
func New(seed uint64, start time.Time, step time.Duration) *Generator {
	return &Generator{seed: seed, r: rng(seed), start: start.UnixNano(), step: int64(step)}
}

// N returns how many records have been generated.
func (g *Generator) N() int { return g.n }

// needlePos is the seeded position of needle nd inside period k.
func (g *Generator) needlePos(nd Needle, k int) int {
	return int(mix(g.seed^uint64(nd.Period)*31^uint64(k)*0x9e37) % uint64(nd.Period))
}

// Record is one generated log record.
type Record struct {
	Service string // stream label: namespace/service
	Line    []byte // the raw record (may span several lines); valid until the next call
	TraceID [16]byte
	Time    int64
}

const hexd = "0123456789abcdef"

func appendHex(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexd[c>>4], hexd[c&15])
	}
	return dst
}

// TraceIDOf returns the id of the k-th trace (a bijective mix of k).
func TraceIDOf(seed, k uint64) [16]byte {
	var id [16]byte
	a, b := mix(k^seed), mix(k+0x51ed2701)
	for i := range 8 {
		id[i], id[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return id
}

// Next generates the next log record.
func (g *Generator) Next() Record {
	idx := g.n
	g.n++
	if g.traceLeft == 0 {
		g.trace = TraceIDOf(g.seed, g.traceOrd)
		g.traceOrd++
		g.traceLeft = 3 + g.r.intn(6)
	}
	g.traceLeft--
	svc := &services[g.r.intn(len(services))]
	ts := g.start + int64(idx)*g.step
	lvl := "info"
	switch x := g.r.intn(100); {
	case x < 3:
		lvl = "error"
	case x < 10:
		lvl = "warn"
	case x < 25:
		lvl = "debug"
	}
	op := svc.ops[g.r.intn(len(svc.ops))]
	var notes [4]string
	nn := 0
	for _, nd := range Needles {
		if idx%nd.Period == g.needlePos(nd, idx/nd.Period) {
			notes[nn] = nd.Word
			nn++
		}
	}
	b := g.buf[:0]
	span := g.r.next()
	user := g.r.intn(50000)
	status := 200
	if lvl == "error" {
		status = []int{500, 502, 503, 504}[g.r.intn(4)]
	} else if g.r.intn(20) == 0 {
		status = []int{400, 401, 404, 409}[g.r.intn(4)]
	}
	lat := float64(g.r.intn(200000)) / 100
	tm := time.Unix(0, ts).UTC()
	switch svc.style {
	case styleJSON:
		b = append(b, `{"ts":"`...)
		b = tm.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
		b = append(b, `","level":"`...)
		b = append(b, lvl...)
		b = append(b, `","service":"`...)
		b = append(b, svc.name...)
		b = append(b, `","msg":"`...)
		b = append(b, op...)
		if lvl == "error" {
			b = append(b, " failed: upstream connect error or disconnect/reset before headers"...)
		} else {
			b = append(b, " completed"...)
		}
		for _, w := range notes[:nn] {
			b = append(b, " note="...)
			b = append(b, w...)
		}
		b = append(b, `","trace_id":"`...)
		b = appendHex(b, g.trace[:])
		b = append(b, `","span_id":"`...)
		b = strconv.AppendUint(b, span|1<<63, 16)
		b = append(b, `","http":{"method":"`...)
		b = append(b, []string{"GET", "POST", "PUT", "DELETE"}[g.r.intn(4)]...)
		b = append(b, `","path":"/api/v1/`...)
		b = append(b, []string{"products", "cart", "orders", "users", "items"}[g.r.intn(5)]...)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(g.r.intn(100000)), 10)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendFloat(b, lat, 'f', 2, 64)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(g.r.intn(64000)), 10)
		b = append(b, `},"user_id":"u`...)
		b = strconv.AppendInt(b, int64(user), 10)
		b = append(b, `","pod":"`...)
		b = append(b, svc.name[len(svc.name)-min(len(svc.name), 8):]...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(g.r.intn(6)), 10)
		b = append(b, `","client_ip":"10.`...)
		b = strconv.AppendInt(b, int64(g.r.intn(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.r.intn(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.r.intn(256)), 10)
		b = append(b, `","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}`...)
	case styleLogfmt:
		b = append(b, "ts="...)
		b = tm.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
		b = append(b, " level="...)
		b = append(b, lvl...)
		b = append(b, " service="...)
		b = append(b, svc.name...)
		b = append(b, ` msg="`...)
		b = append(b, op...)
		if lvl == "error" {
			b = append(b, " failed: context deadline exceeded"...)
		} else {
			b = append(b, " ok"...)
		}
		for _, w := range notes[:nn] {
			b = append(b, " note="...)
			b = append(b, w...)
		}
		b = append(b, `" trace_id=`...)
		b = appendHex(b, g.trace[:])
		b = append(b, " order_id="...)
		b = strconv.AppendInt(b, int64(g.r.intn(1000000)), 10)
		b = append(b, " amount="...)
		b = strconv.AppendFloat(b, float64(g.r.intn(100000))/100, 'f', 2, 64)
		b = append(b, " currency="...)
		b = append(b, []string{"USD", "EUR", "GBP", "JPY"}[g.r.intn(4)]...)
		b = append(b, " latency_ms="...)
		b = strconv.AppendFloat(b, lat, 'f', 2, 64)
		b = append(b, " customer=c"...)
		b = strconv.AppendInt(b, int64(user), 10)
	case styleJava:
		b = tm.AppendFormat(b, "2006-01-02 15:04:05.000")
		b = append(b, ' ')
		for range 5 - len(lvl) {
			b = append(b, ' ')
		}
		b = append(b, upper(lvl)...)
		b = append(b, " 1 --- [nio-8080-exec-"...)
		b = strconv.AppendInt(b, int64(1+g.r.intn(20)), 10)
		b = append(b, "] c.e.shop."...)
		b = append(b, svc.name[len(svc.name)-min(len(svc.name), 6):]...)
		b = append(b, "Service : "...)
		b = append(b, op...)
		b = append(b, " order="...)
		b = strconv.AppendInt(b, int64(g.r.intn(1000000)), 10)
		b = append(b, " trace_id="...)
		b = appendHex(b, g.trace[:])
		for _, w := range notes[:nn] {
			b = append(b, " note="...)
			b = append(b, w...)
		}
		if lvl == "error" {
			b = append(b, "\njava.lang.IllegalStateException: stock reservation failed for sku "...)
			b = strconv.AppendInt(b, int64(g.r.intn(10000)), 10)
			for _, fr := range javaFrames[:4+g.r.intn(len(javaFrames)-4)] {
				b = append(b, "\n\tat "...)
				b = append(b, fr...)
			}
		}
	}
	g.buf = b
	return Record{Service: svc.name, Line: b, TraceID: g.trace, Time: ts}
}

var javaFrames = []string{
	"com.example.shop.InventoryClient.reserve(InventoryClient.java:87)",
	"com.example.shop.CheckoutService.placeOrder(CheckoutService.java:142)",
	"com.example.shop.CheckoutController.checkout(CheckoutController.java:55)",
	"org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
	"jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
	"org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
	"org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1791)",
	"java.base/java.lang.Thread.run(Thread.java:1583)",
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
