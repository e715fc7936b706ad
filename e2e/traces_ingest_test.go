package e2e

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// wantSpan is a span as sent, in the terms the Jaeger API answers in.
type wantSpan struct {
	traceID, spanID, parentID string // 32/16/16 hex
	service, name, kind       string // kind: server, client, ""
	startUs, durUs            int64
	err                       bool
	tags                      map[string]string
}

// shopTrace is one request: web (server) → web calls api (client) → api
// (server) → api queries postgres (client, db.system) — 4 spans, 2 services.
func shopTrace(proto string, n int, base time.Time) []wantSpan {
	tid := fmt.Sprintf("%08x%08x%016x", 0x5e17, hashStr(proto), n+1)
	sid := func(k int) string { return fmt.Sprintf("%08x%04x%04x", hashStr(proto), n+1, k) }
	start := base.Add(time.Duration(n) * time.Second).UnixMicro()
	failed := n%3 == 0
	return []wantSpan{
		{tid, sid(1), "", "web", "GET /checkout", "server", start, 40_000 + int64(n)*1000, false, map[string]string{"http.route": "/checkout", "proto": proto}},
		{tid, sid(2), sid(1), "web", "POST api/charge", "client", start + 1000, 30_000, failed, map[string]string{"peer.service": "api"}},
		{tid, sid(3), sid(2), "api", "Charge", "server", start + 2000, 25_000 + int64(n)*100, failed, map[string]string{"customer": strconv.Itoa(n)}},
		{tid, sid(4), sid(3), "api", "SELECT orders", "client", start + 3000, 5_000, false, map[string]string{"db.system": "postgresql"}},
	}
}

func hashStr(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func toOTLP(spans []wantSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.SpanSlice{}
	for _, w := range spans {
		ss, ok := bySvc[w.service]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", w.service)
			rs.Resource().Attributes().PutStr("host.name", "host-"+w.service)
			ss = rs.ScopeSpans().AppendEmpty().Spans()
			bySvc[w.service] = ss
		}
		sp := ss.AppendEmpty()
		var tid pcommon.TraceID
		var sid, pid pcommon.SpanID
		hex.Decode(tid[:], []byte(w.traceID))
		hex.Decode(sid[:], []byte(w.spanID))
		if w.parentID != "" {
			hex.Decode(pid[:], []byte(w.parentID))
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetParentSpanID(pid)
		sp.SetName(w.name)
		switch w.kind {
		case "server":
			sp.SetKind(ptrace.SpanKindServer)
		case "client":
			sp.SetKind(ptrace.SpanKindClient)
		}
		sp.SetStartTimestamp(pcommon.Timestamp(w.startUs * 1000))
		sp.SetEndTimestamp(pcommon.Timestamp((w.startUs + w.durUs) * 1000))
		if w.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		for k, v := range w.tags {
			sp.Attributes().PutStr(k, v)
		}
	}
	return td
}

func toZipkin(spans []wantSpan) []byte {
	var out []map[string]any
	for _, w := range spans {
		z := map[string]any{
			"traceId": w.traceID, "id": w.spanID, "name": w.name, "timestamp": w.startUs, "duration": w.durUs,
			"localEndpoint": map[string]any{"serviceName": w.service},
		}
		if w.parentID != "" {
			z["parentId"] = w.parentID
		}
		if w.kind != "" {
			z["kind"] = strings.ToUpper(w.kind)
		}
		tags := map[string]string{}
		for k, v := range w.tags {
			tags[k] = v
		}
		if w.err {
			tags["error"] = "true"
		}
		z["tags"] = tags
		out = append(out, z)
	}
	b, _ := json.Marshal(out)
	return b
}

type jaegerResp struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		TraceID       string `json:"traceID"`
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType, TraceID, SpanID string
		} `json:"references"`
		StartTime int64 `json:"startTime"`
		Duration  int64 `json:"duration"`
		Tags      []struct {
			Key   string `json:"key"`
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"tags"`
		ProcessID string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

func jaegerGet(t testing.TB, s *Server, path string, params url.Values, v any) int {
	t.Helper()
	u := s.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r jaegerResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("GET %s: %s: %q", u, resp.Status, b)
	}
	if resp.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("GET %s: data: %v: %s", u, err, r.Data)
		}
	}
	return resp.StatusCode
}

// checkTrace compares a Jaeger trace with what was sent.
func checkTrace(jt jaegerTrace, want []wantSpan) error {
	if len(jt.Spans) != len(want) {
		return fmt.Errorf("trace %s: %d spans, want %d", jt.TraceID, len(jt.Spans), len(want))
	}
	got := map[string]int{}
	for i, s := range jt.Spans {
		got[s.SpanID] = i
	}
	for _, w := range want {
		i, ok := got[w.spanID]
		if !ok {
			return fmt.Errorf("span %s missing", w.spanID)
		}
		s := jt.Spans[i]
		if s.OperationName != w.name || s.StartTime != w.startUs || s.Duration != w.durUs {
			return fmt.Errorf("span %s: %q %d %d, want %q %d %d", w.spanID, s.OperationName, s.StartTime, s.Duration, w.name, w.startUs, w.durUs)
		}
		if svc := jt.Processes[s.ProcessID].ServiceName; svc != w.service {
			return fmt.Errorf("span %s: service %q, want %q", w.spanID, svc, w.service)
		}
		if strings.TrimLeft(s.TraceID, "0") != strings.TrimLeft(w.traceID, "0") {
			return fmt.Errorf("span %s: trace id %s, want %s", w.spanID, s.TraceID, w.traceID)
		}
		parent := ""
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				parent = r.SpanID
			}
		}
		if parent != w.parentID {
			return fmt.Errorf("span %s: parent %q, want %q", w.spanID, parent, w.parentID)
		}
		tags := map[string]string{}
		for _, tg := range s.Tags {
			tags[tg.Key] = fmt.Sprint(tg.Value)
		}
		for k, v := range w.tags {
			if tags[k] != v {
				return fmt.Errorf("span %s: tag %s=%q, want %q (tags %v)", w.spanID, k, tags[k], v, tags)
			}
		}
		if (tags["error"] == "true") != w.err {
			return fmt.Errorf("span %s: error tag %q, want %v", w.spanID, tags["error"], w.err)
		}
		if w.kind != "" && tags["span.kind"] != w.kind {
			return fmt.Errorf("span %s: span.kind %q, want %q", w.spanID, tags["span.kind"], w.kind)
		}
	}
	return nil
}

func postBody(t *testing.T, u, ct string, body []byte) {
	t.Helper()
	resp, err := http.Post(u, ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s %s", u, resp.Status, b)
	}
}

func TestTracesIngestQueryAndDerivedMetrics(t *testing.T) {
	s := StartServer(t)
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	const perProto = 6
	protos := []string{"grpc", "http-proto", "http-json", "zipkin"}
	sent := map[string][]wantSpan{}
	var order []string

	conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	for _, proto := range protos {
		var all []wantSpan
		for n := 0; n < perProto; n++ {
			tr := shopTrace(proto, n, base)
			sent[tr[0].traceID] = tr
			order = append(order, tr[0].traceID)
			all = append(all, tr...)
		}
		switch proto {
		case "grpc":
			if _, err := client.Export(ctx(t), ptraceotlp.NewExportRequestFromTraces(toOTLP(all))); err != nil {
				t.Fatal(err)
			}
		case "http-proto":
			b, _ := ptraceotlp.NewExportRequestFromTraces(toOTLP(all)).MarshalProto()
			postBody(t, s.OTLPHTTP+"/v1/traces", "application/x-protobuf", b)
		case "http-json":
			b, _ := ptraceotlp.NewExportRequestFromTraces(toOTLP(all)).MarshalJSON()
			postBody(t, s.OTLPHTTP+"/v1/traces", "application/json", b)
		case "zipkin":
			postBody(t, s.URL+"/api/v2/spans", "application/json", toZipkin(all))
		}
	}
	total := len(order)

	t.Run("by id", func(t *testing.T) {
		for _, id := range order {
			var ts []jaegerTrace
			if code := jaegerGet(t, s, "/api/traces/"+id, nil, &ts); code != 200 || len(ts) != 1 {
				t.Fatalf("trace %s: %d, %d traces", id, code, len(ts))
			}
			if err := checkTrace(ts[0], sent[id]); err != nil {
				t.Error(err)
			}
		}
		if code := jaegerGet(t, s, "/api/traces/00000000000000000000000000abcdef", nil, nil); code != 404 {
			t.Errorf("unknown trace: %d, want 404", code)
		}
	})

	t.Run("search", func(t *testing.T) {
		var svcs []string
		jaegerGet(t, s, "/api/services", nil, &svcs)
		sort.Strings(svcs)
		if strings.Join(svcs, ",") != "api,web" {
			t.Errorf("services = %v", svcs)
		}
		var ops []string
		jaegerGet(t, s, "/api/services/api/operations", nil, &ops)
		sort.Strings(ops)
		if strings.Join(ops, ",") != "Charge,SELECT orders" {
			t.Errorf("operations = %v", ops)
		}
		var kops []struct{ Name, SpanKind string }
		jaegerGet(t, s, "/api/operations", url.Values{"service": {"web"}, "spanKind": {"server"}}, &kops)
		if len(kops) != 1 || kops[0].Name != "GET /checkout" || kops[0].SpanKind != "server" {
			t.Errorf("operations by kind = %+v", kops)
		}
		tests := []struct {
			name   string
			params url.Values
			want   func(w []wantSpan) bool
		}{
			{"service", url.Values{"service": {"web"}}, func([]wantSpan) bool { return true }},
			{"operation", url.Values{"service": {"api"}, "operation": {"Charge"}}, func([]wantSpan) bool { return true }},
			{"error tag", url.Values{"service": {"api"}, "tags": {`{"error":"true"}`}}, func(w []wantSpan) bool { return w[2].err }},
			{"attribute tag", url.Values{"service": {"web"}, "tags": {`{"proto":"zipkin"}`}}, func(w []wantSpan) bool { return w[0].tags["proto"] == "zipkin" }},
			{"min duration", url.Values{"service": {"web"}, "operation": {"GET /checkout"}, "minDuration": {"43ms"}}, func(w []wantSpan) bool { return w[0].durUs >= 43_000 }},
			{"max duration", url.Values{"service": {"api"}, "operation": {"Charge"}, "maxDuration": {"25200us"}}, func(w []wantSpan) bool { return w[2].durUs <= 25_200 }},
			{"time range", url.Values{"service": {"web"}, "start": {strconv.FormatInt(base.UnixMicro(), 10)}, "end": {strconv.FormatInt(base.Add(2500*time.Millisecond).UnixMicro(), 10)}},
				func(w []wantSpan) bool { return w[0].startUs < base.Add(2500*time.Millisecond).UnixMicro() }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := tc.params
				p.Set("limit", "1000")
				var ts []jaegerTrace
				if code := jaegerGet(t, s, "/api/traces", p, &ts); code != 200 {
					t.Fatalf("search: %d", code)
				}
				got := map[string]bool{}
				for _, tr := range ts {
					got[tr.TraceID] = true
					if w, ok := sent[tr.TraceID]; !ok {
						t.Errorf("unexpected trace %s", tr.TraceID)
					} else if err := checkTrace(tr, w); err != nil {
						t.Error(err)
					}
				}
				n := 0
				for id, w := range sent {
					if tc.want(w) {
						n++
						if !got[id] {
							t.Errorf("trace %s (%s) missing", id, w[0].tags["proto"])
						}
					}
				}
				if len(ts) != n {
					t.Errorf("%d traces, want %d", len(ts), n)
				}
			})
		}
		var lim []jaegerTrace
		jaegerGet(t, s, "/api/traces", url.Values{"service": {"web"}, "limit": {"5"}}, &lim)
		if len(lim) != 5 {
			t.Errorf("limit 5 gave %d traces", len(lim))
		}
	})

	t.Run("span metrics", func(t *testing.T) {
		errs := 0
		for _, w := range sent {
			if w[2].err {
				errs++
			}
		}
		checks := []struct {
			q    string
			want float64
		}{
			{`sum(traces_spanmetrics_calls_total{service="web"})`, float64(2 * total)},
			{`sum(traces_spanmetrics_calls_total{service="api",span_name="Charge",span_kind="SPAN_KIND_SERVER"})`, float64(total)},
			{`sum(traces_spanmetrics_calls_total{service="api",status_code="STATUS_CODE_ERROR"})`, float64(errs)},
			{`sum(traces_spanmetrics_duration_seconds_count{service="api",span_name="SELECT orders"})`, float64(total)},
			// Every SELECT takes 5ms: all in the le=0.008 bucket, none in le=0.004.
			{`sum(traces_spanmetrics_duration_seconds_bucket{span_name="SELECT orders",le="0.008"})`, float64(total)},
			{`sum(traces_spanmetrics_duration_seconds_bucket{span_name="SELECT orders",le="0.004"})`, 0},
			{`sum(traces_service_graph_request_total{client="web",server="api"})`, float64(total)},
			{`sum(traces_service_graph_request_failed_total{client="web",server="api"})`, float64(errs)},
			{`sum(traces_service_graph_request_server_seconds_count{client="web",server="api"})`, float64(total)},
			{`sum(traces_service_graph_request_total{client="api",server="postgresql",connection_type="database"})`, float64(total)},
		}
		Eventually(t, 40*time.Second, func() error {
			for _, c := range checks {
				v := s.Query(c.q, time.Now())
				if len(v) != 1 {
					return fmt.Errorf("%s: %d samples", c.q, len(v))
				}
				got, _ := strconv.ParseFloat(v[0].Value[1].(string), 64)
				if got != c.want {
					return fmt.Errorf("%s = %v, want %v", c.q, got, c.want)
				}
			}
			return nil
		})
		// Histogram quantile within one bucket of the true value: Charge
		// takes 25.0–25.x ms, so p50 lies in (16ms, 32ms].
		v := s.Query(`histogram_quantile(0.5, sum by (le) (rate(traces_spanmetrics_duration_seconds_bucket{span_name="Charge"}[5m])))`, time.Now())
		if len(v) != 1 {
			t.Fatalf("quantile: %v", v)
		}
		q, _ := strconv.ParseFloat(v[0].Value[1].(string), 64)
		if math.IsNaN(q) || q <= 0.016 || q > 0.032 {
			t.Errorf("p50 of Charge = %v, want within (0.016, 0.032]", q)
		}
	})

	t.Run("dependencies", func(t *testing.T) {
		var deps []struct {
			Parent, Child string
			CallCount     int
		}
		jaegerGet(t, s, "/api/dependencies", url.Values{"endTs": {strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)}, "lookback": {"3600000"}}, &deps)
		got := map[string]int{}
		for _, d := range deps {
			got[d.Parent+"->"+d.Child] = d.CallCount
		}
		if got["web->api"] != total || got["api->postgresql"] != total || len(got) != 2 {
			t.Errorf("dependencies = %v, want web->api and api->postgresql with %d calls", got, total)
		}
	})

	t.Run("native trace view", func(t *testing.T) {
		id := order[0]
		resp, err := http.Get(s.URL + "/api/v1/traces/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Status string
			Data   struct {
				Summary struct {
					RootService string
					SpanCount   int
					ErrorCount  int
				}
				Spans []struct {
					SpanID   string
					Depth    int
					Critical bool
				}
				CriticalPath []string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		w := sent[id]
		if v.Data.Summary.RootService != "web" || v.Data.Summary.SpanCount != 4 || len(v.Data.Spans) != 4 {
			t.Fatalf("view = %+v", v)
		}
		for i, sp := range v.Data.Spans {
			if sp.SpanID != w[i].spanID || sp.Depth != i || !sp.Critical {
				t.Errorf("span %d = %+v, want %s at depth %d on the critical path", i, sp, w[i].spanID, i)
			}
		}
	})
}
