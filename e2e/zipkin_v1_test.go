package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"
)

// toZipkinV1 renders spans in Zipkin's v1 JSON: kind and timing through
// core annotations (server: sr/ss, client: cs/cr), tags as binary
// annotations. Client spans carry no span-level timestamp, so their timing
// must come from cs and cr.
func toZipkinV1(spans []wantSpan) []byte {
	var out []map[string]any
	for _, w := range spans {
		ep := map[string]any{"serviceName": w.service, "ipv4": "10.0.0.7"}
		z := map[string]any{"traceId": w.traceID, "id": w.spanID, "name": w.name}
		if w.parentID != "" {
			z["parentId"] = w.parentID
		}
		begin, end := "", ""
		switch w.kind {
		case "server":
			begin, end = "sr", "ss"
			z["timestamp"], z["duration"] = w.startUs, w.durUs
		case "client":
			begin, end = "cs", "cr"
		default:
			z["timestamp"], z["duration"] = w.startUs, w.durUs
		}
		var anns []map[string]any
		if begin != "" {
			anns = append(anns,
				map[string]any{"timestamp": w.startUs, "value": begin, "endpoint": ep},
				map[string]any{"timestamp": w.startUs + w.durUs, "value": end, "endpoint": ep})
		}
		anns = append(anns, map[string]any{"timestamp": w.startUs + 1, "value": "checkpoint", "endpoint": ep})
		z["annotations"] = anns
		var bins []map[string]any
		for k, v := range w.tags {
			bins = append(bins, map[string]any{"key": k, "value": v, "type": "STRING", "endpoint": ep})
		}
		if w.err {
			bins = append(bins, map[string]any{"key": "error", "value": "true", "endpoint": ep})
		}
		z["binaryAnnotations"] = bins
		out = append(out, z)
	}
	b, _ := json.Marshal(out)
	return b
}

// TestZipkinV1 sends known traces as Zipkin v1 JSON and reads each back
// by id and by search through the Jaeger API.
func TestZipkinV1(t *testing.T) {
	s := StartServer(t)
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	var traces [][]wantSpan
	for n := 0; n < 3; n++ {
		tr := shopTrace("zipkin-v1", n, base)
		traces = append(traces, tr)
		postBody(t, s.URL+"/api/v1/spans", "application/json", toZipkinV1(tr))
	}
	for _, want := range traces {
		Eventually(t, 10*time.Second, func() error {
			var got []jaegerTrace
			if code := jaegerGet(t, s, "/api/traces/"+want[0].traceID, nil, &got); code != 200 {
				return fmt.Errorf("trace %s: HTTP %d", want[0].traceID, code)
			}
			if len(got) != 1 {
				return fmt.Errorf("trace %s: %d traces", want[0].traceID, len(got))
			}
			return checkTrace(got[0], want)
		})
	}
	// Search finds them by service and by tag, like v2 spans.
	var found []jaegerTrace
	jaegerGet(t, s, "/api/traces", url.Values{"service": {"api"}, "tags": {`{"db.system":"postgresql"}`},
		"start": {fmt.Sprint(base.Add(-time.Minute).UnixMicro())}, "limit": {"10"}}, &found)
	if len(found) != len(traces) {
		t.Fatalf("search by service and tag found %d traces, want %d", len(found), len(traces))
	}
	// Spans of one v1 call seen by both sides (cs, sr, ss, cr in one span)
	// become a client and a shared server span with the same id.
	shared := `[{"traceId":"00000000000000000000000000c0ffee","id":"00000000000000aa","name":"get /x",
	  "annotations":[{"timestamp":%[1]d,"value":"cs","endpoint":{"serviceName":"edge"}},
	                 {"timestamp":%[2]d,"value":"sr","endpoint":{"serviceName":"origin"}},
	                 {"timestamp":%[3]d,"value":"ss","endpoint":{"serviceName":"origin"}},
	                 {"timestamp":%[4]d,"value":"cr","endpoint":{"serviceName":"edge"}}]}]`
	t0 := base.UnixMicro()
	postBody(t, s.URL+"/api/v1/spans", "application/json", []byte(fmt.Sprintf(shared, t0, t0+100, t0+900, t0+1000)))
	Eventually(t, 10*time.Second, func() error {
		var got []jaegerTrace
		if code := jaegerGet(t, s, "/api/traces/00000000000000000000000000c0ffee", nil, &got); code != 200 || len(got) != 1 {
			return fmt.Errorf("shared trace: HTTP %d, %d traces", code, len(got))
		}
		durs := map[string]int64{}
		for _, sp := range got[0].Spans {
			durs[got[0].Processes[sp.ProcessID].ServiceName] = sp.Duration
		}
		if len(got[0].Spans) != 2 || durs["edge"] != 1000 || durs["origin"] != 800 {
			return fmt.Errorf("shared span: %d spans, durations %v; want edge 1000µs and origin 800µs", len(got[0].Spans), durs)
		}
		return nil
	})
}
