package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// getAs sends a GET as tenant ("" sends no X-Scope-OrgID) and decodes the
// Jaeger-style data field into v on 200.
func getAs(t *testing.T, s *Server, tenant, path string, params url.Values, v any) int {
	t.Helper()
	u := s.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, _ := http.NewRequest("GET", u, nil)
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && v != nil {
		var r struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &r); err != nil || json.Unmarshal(r.Data, v) != nil {
			t.Fatalf("GET %s as %q: %s", u, tenant, b)
		}
	}
	return resp.StatusCode
}

func postAs(t *testing.T, tenant, u, ct string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s as %q: %s %s", u, tenant, resp.Status, b)
	}
}

// renamed gives a trace's services a tenant prefix, so a leak shows in
// service lists and dependencies too.
func renamed(spans []wantSpan, prefix string) []wantSpan {
	for i := range spans {
		spans[i].service = prefix + spans[i].service
	}
	return spans
}

// TestTracesTenants sends traces of tenants team-a (OTLP gRPC metadata),
// team-b (OTLP/HTTP protobuf and Zipkin headers) and the default tenant,
// then checks every read API shows each tenant only its own spans.
func TestTracesTenants(t *testing.T) {
	s := StartServer(t)
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	traces := map[string][][]wantSpan{
		"team-a": {renamed(shopTrace("tenant-a", 0, base), "a-"), renamed(shopTrace("tenant-a", 1, base), "a-")},
		"team-b": {renamed(shopTrace("tenant-b", 0, base), "b-"), renamed(shopTrace("tenant-b", 1, base), "b-")},
		"":       {renamed(shopTrace("tenant-default", 0, base), "d-")},
	}

	conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	for _, tr := range traces["team-a"] {
		c := metadata.AppendToOutgoingContext(ctx(t), "X-Scope-OrgID", "team-a")
		if _, err := client.Export(c, ptraceotlp.NewExportRequestFromTraces(toOTLP(tr))); err != nil {
			t.Fatalf("export team-a: %v", err)
		}
	}
	if _, err := client.Export(ctx(t), ptraceotlp.NewExportRequestFromTraces(toOTLP(traces[""][0]))); err != nil {
		t.Fatalf("export default tenant: %v", err)
	}
	pb, _ := ptraceotlp.NewExportRequestFromTraces(toOTLP(traces["team-b"][0])).MarshalProto()
	postAs(t, "team-b", s.OTLPHTTP+"/v1/traces", "application/x-protobuf", pb)
	postAs(t, "team-b", s.URL+"/api/v2/spans", "application/json", toZipkin(traces["team-b"][1]))

	services := map[string]string{"team-a": "a-", "team-b": "b-", "": "d-"}
	for _, tenant := range []string{"team-a", "team-b", ""} {
		// Its own traces, exactly as sent.
		for _, want := range traces[tenant] {
			Eventually(t, 10*time.Second, func() error {
				var got []jaegerTrace
				if code := getAs(t, s, tenant, "/api/traces/"+want[0].traceID, nil, &got); code != 200 || len(got) != 1 {
					return fmt.Errorf("tenant %q: own trace %s: HTTP %d", tenant, want[0].traceID, code)
				}
				return checkTrace(got[0], want)
			})
		}
		// Nobody else's, by id, through either API.
		for other, trs := range traces {
			if other == tenant {
				continue
			}
			for _, tr := range trs {
				if code := getAs(t, s, tenant, "/api/traces/"+tr[0].traceID, nil, nil); code != 404 {
					t.Errorf("tenant %q reads %q's trace %s: HTTP %d, want 404", tenant, other, tr[0].traceID, code)
				}
				if code := getAs(t, s, tenant, "/api/v1/traces/"+tr[0].traceID, nil, nil); code != 404 {
					t.Errorf("tenant %q reads %q's trace %s via /api/v1/traces: HTTP %d, want 404", tenant, other, tr[0].traceID, code)
				}
			}
		}
		// Services and search list only its own.
		var svcs []string
		getAs(t, s, tenant, "/api/services", nil, &svcs)
		for _, svc := range svcs {
			if !strings.HasPrefix(svc, services[tenant]) {
				t.Errorf("tenant %q sees service %q", tenant, svc)
			}
		}
		if len(svcs) != 2 {
			t.Errorf("tenant %q: services %v, want its 2", tenant, svcs)
		}
		for other, prefix := range services {
			var found []jaegerTrace
			getAs(t, s, tenant, "/api/traces", url.Values{"service": {prefix + "api"}, "limit": {"20"},
				"start": {fmt.Sprint(base.Add(-time.Minute).UnixMicro())}}, &found)
			if want := len(traces[tenant]); other == tenant && len(found) != want {
				t.Errorf("tenant %q: search of its own service found %d traces, want %d", tenant, len(found), want)
			} else if other != tenant && len(found) != 0 {
				t.Errorf("tenant %q: search of %q's service found %d traces", tenant, other, len(found))
			}
		}
	}
	// The service graph is per tenant too.
	for tenant, prefix := range services {
		Eventually(t, 15*time.Second, func() error {
			var deps []struct {
				Parent string `json:"parent"`
				Child  string `json:"child"`
			}
			getAs(t, s, tenant, "/api/dependencies", url.Values{"endTs": {fmt.Sprint(time.Now().Add(time.Minute).UnixMilli())}, "lookback": {"3600000"}}, &deps)
			web := false
			for _, d := range deps {
				if !strings.HasPrefix(d.Parent, prefix) {
					return fmt.Errorf("tenant %q sees edge %s→%s", tenant, d.Parent, d.Child)
				}
				web = web || (d.Parent == prefix+"web" && d.Child == prefix+"api")
			}
			if !web {
				return fmt.Errorf("tenant %q: no %sweb→%sapi edge in %v", tenant, prefix, prefix, deps)
			}
			return nil
		})
	}
}
