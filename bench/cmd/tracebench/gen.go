package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// GenOptions fix the generated data set. Trace k (0-based) is a pure
// function of Seed and k, so a query step can recompute any trace's id,
// span ids and span count without storing them.
type GenOptions struct {
	Seed     uint64
	Services int           // distinct services; default 60
	Base     time.Time     // start of trace 0
	Step     time.Duration // start of trace k = Base + k*Step
}

// Validate reports unusable options.
func (o GenOptions) Validate() error {
	if o.Services < 2 || o.Services > 1000 {
		return fmt.Errorf("validate generator options: services %d not in [2, 1000]", o.Services)
	}
	if o.Step < 0 {
		return fmt.Errorf("validate generator options: negative step")
	}
	return nil
}

// rng is splitmix64: cheap, deterministic, good enough for test data.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// service is one generated service: its pods, operations and callees.
type service struct {
	name      string
	version   string
	namespace string
	pods      []string
	hosts     []string
	ops       []string
	callees   []int // indexes of services it calls (always higher, so no cycles)
	db        string
	lang      string
}

var (
	verbs   = []string{"get", "list", "create", "update", "delete", "search", "validate", "reserve"}
	nouns   = []string{"order", "cart", "user", "payment", "invoice", "item", "quote", "session", "shipment", "review", "coupon", "stock"}
	dbs     = []string{"postgresql", "mysql", "redis", "mongodb", ""}
	langs   = []string{"go", "java", "python", "nodejs", "dotnet"}
	regions = []string{"eu-west-1", "us-east-1", "ap-south-1"}
	agents  = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"okhttp/4.12.0", "Go-http-client/2.0", "python-requests/2.32.3",
	}
)

// Generator builds traces of 5–30 spans across a fixed service topology.
// A Generator is read-only after NewGenerator and safe for concurrent use.
type Generator struct {
	o     GenOptions
	svcs  []service
	entry int // services [0, entry) receive root spans
}

// NewGenerator validates o and builds the topology.
func NewGenerator(o GenOptions) (*Generator, error) {
	if o.Services == 0 {
		o.Services = 60
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	r := rng(o.Seed ^ 0x5eed)
	g := &Generator{o: o, entry: max(1, o.Services/6)}
	for i := 0; i < o.Services; i++ {
		s := service{
			name:      fmt.Sprintf("%s-%s-%02d", nouns[i%len(nouns)], []string{"api", "svc", "worker", "gateway", "store"}[i%5], i),
			version:   fmt.Sprintf("1.%d.%d", r.intn(20), r.intn(10)),
			namespace: []string{"shop", "payments", "identity", "logistics"}[i%4],
			db:        dbs[r.intn(len(dbs))],
			lang:      langs[r.intn(len(langs))],
		}
		for p := 0; p < 3; p++ {
			s.pods = append(s.pods, fmt.Sprintf("%s-%x-%05x", s.name, r.next()&0xfffffff, r.next()&0xfffff))
			s.hosts = append(s.hosts, fmt.Sprintf("node-%03d.%s.compute.internal", r.intn(200), regions[i%3]))
		}
		nops := 4 + r.intn(7)
		for k := 0; k < nops; k++ {
			s.ops = append(s.ops, fmt.Sprintf("%s /api/v%d/%s/{id}", []string{"GET", "POST", "PUT", "DELETE"}[r.intn(4)], 1+r.intn(2), verbs[r.intn(len(verbs))]+"-"+nouns[r.intn(len(nouns))]))
		}
		g.svcs = append(g.svcs, s)
	}
	for i := range g.svcs {
		if i+1 >= o.Services {
			continue
		}
		n := 2 + r.intn(3)
		for k := 0; k < n; k++ {
			g.svcs[i].callees = append(g.svcs[i].callees, i+1+r.intn(o.Services-i-1))
		}
	}
	return g, nil
}

// ServiceName returns the name of service i.
func (g *Generator) ServiceName(i int) string { return g.svcs[i%len(g.svcs)].name }

// Services returns the number of services.
func (g *Generator) Services() int { return len(g.svcs) }

// TraceInfo is what a query step needs to verify a returned trace.
type TraceInfo struct {
	ID      [16]byte
	Start   time.Time
	SpanIDs [][8]byte
	// Services holds the distinct services of the trace's spans.
	Services map[string]bool
	// MaxDuration is the longest span's duration.
	MaxDuration time.Duration
}

// genSpan is a span before it is written into pdata.
type genSpan struct {
	id, parent [8]byte
	parentIdx  int // index of the parent in the trace's spans (-1 for the root)
	svc, pod   int
	op         string
	kind       ptrace.SpanKind
	start, dur int64 // ns offset from the trace start, ns
	err        bool
	db         bool
	status     int
}

func (g *Generator) traceRng(k int) rng {
	r := rng(g.o.Seed*0x9e3779b97f4a7c15 ^ uint64(k)*0xd1b54a32d192ed03)
	r.next()
	return r
}

// spans generates trace k's id and spans into buf.
func (g *Generator) spans(k int, buf []genSpan) ([16]byte, []genSpan) {
	r := g.traceRng(k)
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], r.next()|1)
	binary.BigEndian.PutUint64(id[8:], r.next())
	n := 5 + r.intn(26)
	buf = buf[:0]
	// Root: an entry service's server span. Its duration is log-uniform
	// between 2 ms and ~4 s, so min-duration searches select a fraction.
	rootDur := int64(2e6) << uint(r.intn(11))
	rootDur += int64(r.intn(int(rootDur)))
	sv := r.intn(g.entry)
	buf = append(buf, genSpan{parentIdx: -1, svc: sv, pod: r.intn(3), kind: ptrace.SpanKindServer, dur: rootDur, op: g.svcs[sv].ops[r.intn(len(g.svcs[sv].ops))]})
	for len(buf) < n {
		pi := r.intn(len(buf))
		p := buf[pi]
		s := genSpan{parentIdx: pi, pod: r.intn(3)}
		ps := &g.svcs[p.svc]
		// Children fit inside their parent.
		s.dur = max(1000, p.dur/int64(2+r.intn(6)))
		s.start = p.start + int64(r.intn(int(max(1, p.dur-s.dur))))
		switch c := r.intn(10); {
		case c < 5 && len(ps.callees) > 0:
			// A call to another service: client span here, server span there.
			cs := s
			cs.svc, cs.pod, cs.kind = p.svc, p.pod, ptrace.SpanKindClient
			callee := ps.callees[r.intn(len(ps.callees))]
			cs.op = "HTTP " + g.svcs[callee].ops[r.intn(len(g.svcs[callee].ops))][:4]
			buf = append(buf, cs)
			if len(buf) == n {
				break
			}
			s.svc, s.kind = callee, ptrace.SpanKindServer
			s.op = g.svcs[callee].ops[r.intn(len(g.svcs[callee].ops))]
			s.start += cs.dur / 20
			s.dur -= cs.dur / 10
			s.parentIdx = len(buf) - 1 // the client span
			buf = append(buf, s)
		case c < 8 && ps.db != "":
			s.svc, s.pod, s.kind, s.db = p.svc, p.pod, ptrace.SpanKindClient, true
			s.op = []string{"SELECT", "INSERT", "UPDATE", "GET", "SET"}[r.intn(5)] + " " + nouns[r.intn(len(nouns))] + "s"
			buf = append(buf, s)
		default:
			s.svc, s.pod, s.kind = p.svc, p.pod, ptrace.SpanKindInternal
			s.op = verbs[r.intn(len(verbs))] + "_" + nouns[r.intn(len(nouns))]
			buf = append(buf, s)
		}
	}
	for i := range buf {
		binary.BigEndian.PutUint64(buf[i].id[:], r.next()|1)
	}
	for i := range buf {
		if pi := buf[i].parentIdx; pi >= 0 {
			buf[i].parent = buf[pi].id
		}
	}
	for i := range buf {
		s := &buf[i]
		s.status = 200
		if r.intn(40) == 0 {
			s.err, s.status = true, []int{500, 502, 503, 504}[r.intn(4)]
		} else if r.intn(15) == 0 {
			s.status = []int{400, 404, 409}[r.intn(3)]
		}
	}
	return id, buf
}

// Info returns trace k's id, start, span ids, services and longest span.
func (g *Generator) Info(k int) TraceInfo {
	id, sp := g.spans(k, nil)
	ti := TraceInfo{ID: id, Start: g.o.Base.Add(time.Duration(k) * g.o.Step), Services: map[string]bool{}}
	for _, s := range sp {
		ti.SpanIDs = append(ti.SpanIDs, s.id)
		ti.Services[g.svcs[s.svc].name] = true
		ti.MaxDuration = max(ti.MaxDuration, time.Duration(s.dur))
	}
	return ti
}

// Batch writes traces [from, to) into a new ptrace.Traces, spans grouped by
// resource (service and pod) as an SDK's exporter would, and returns it
// with its span count.
func (g *Generator) Batch(from, to int) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	type rkey struct{ svc, pod int }
	groups := map[rkey]ptrace.SpanSlice{}
	var buf []genSpan
	n := 0
	var hex [32]byte
	for k := from; k < to; k++ {
		var id [16]byte
		id, buf = g.spans(k, buf)
		r := rng(uint64(g.traceRng(k)) ^ 0xa5a5a5a5a5a5a5a5)
		base := g.o.Base.Add(time.Duration(k) * g.o.Step).UnixNano()
		user := strconv.FormatUint(r.next()%5_000_000, 10)
		session := strconv.FormatUint(r.next(), 36)
		ua := agents[r.intn(len(agents))]
		clientIP := fmt.Sprintf("10.%d.%d.%d", r.intn(256), r.intn(256), r.intn(256))
		for i := range buf {
			s := &buf[i]
			key := rkey{s.svc, s.pod}
			ss, ok := groups[key]
			if !ok {
				ss = g.newResource(td, s.svc, s.pod)
				groups[key] = ss
			}
			sp := ss.AppendEmpty()
			sp.SetTraceID(pcommon.TraceID(id))
			sp.SetSpanID(pcommon.SpanID(s.id))
			if s.parentIdx >= 0 {
				sp.SetParentSpanID(pcommon.SpanID(s.parent))
			}
			sp.SetName(s.op)
			sp.SetKind(s.kind)
			sp.SetStartTimestamp(pcommon.Timestamp(base + s.start))
			sp.SetEndTimestamp(pcommon.Timestamp(base + s.start + s.dur))
			sp.SetFlags(1)
			a := sp.Attributes()
			a.EnsureCapacity(12)
			svc := &g.svcs[s.svc]
			switch {
			case s.db:
				a.PutStr("db.system", svc.db)
				a.PutStr("db.namespace", svc.namespace+"_"+nouns[s.svc%len(nouns)])
				a.PutStr("db.query.text", s.op+" WHERE id = $1 AND tenant_id = $2 LIMIT 100")
				a.PutStr("server.address", svc.db+"."+svc.namespace+".svc.cluster.local")
				a.PutInt("server.port", 5432)
				a.PutInt("db.response.returned_rows", int64(r.intn(100)))
			case s.kind == ptrace.SpanKindServer || s.kind == ptrace.SpanKindClient:
				a.PutStr("http.request.method", s.op[:4])
				a.PutStr("http.route", s.op)
				a.PutInt("http.response.status_code", int64(s.status))
				a.PutStr("url.scheme", "http")
				a.PutStr("network.protocol.version", "1.1")
				a.PutStr("server.address", svc.name+"."+svc.namespace+".svc.cluster.local")
				a.PutInt("server.port", 8080)
				if s.kind == ptrace.SpanKindServer {
					a.PutStr("client.address", clientIP)
					a.PutStr("user_agent.original", ua)
				} else {
					a.PutStr("peer.service", svc.name)
				}
				a.PutInt("http.request.body.size", int64(r.intn(4000)))
			default:
				a.PutStr("code.function", s.op)
				a.PutStr("code.namespace", "com.example."+svc.namespace+"."+nouns[s.svc%len(nouns)])
				a.PutInt("code.lineno", int64(20+r.intn(900)))
			}
			a.PutStr("app.user_id", user)
			a.PutStr("app.session_id", session)
			a.PutStr("app.request_id", string(appendHexU64(hex[:0], r.next())))
			if s.err {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage(fmt.Sprintf("upstream returned %d", s.status))
				a.PutStr("error.type", strconv.Itoa(s.status))
			}
			n++
		}
	}
	return td, n
}

func appendHexU64(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, digits[(v>>uint(i))&0xf])
	}
	return dst
}

// newResource appends a ResourceSpans for service svc's pod and returns its
// span slice.
func (g *Generator) newResource(td ptrace.Traces, svc, pod int) ptrace.SpanSlice {
	s := &g.svcs[svc]
	rs := td.ResourceSpans().AppendEmpty()
	a := rs.Resource().Attributes()
	a.PutStr("service.name", s.name)
	a.PutStr("service.version", s.version)
	a.PutStr("service.instance.id", s.pods[pod])
	a.PutStr("deployment.environment.name", "production")
	a.PutStr("k8s.namespace.name", s.namespace)
	a.PutStr("k8s.pod.name", s.pods[pod])
	a.PutStr("host.name", s.hosts[pod])
	a.PutStr("telemetry.sdk.language", s.lang)
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.38.0")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("io.opentelemetry." + s.lang + ".http")
	ss.Scope().SetVersion("2.10.0")
	return ss.Spans()
}
