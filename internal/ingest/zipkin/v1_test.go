package zipkin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

// rowsOf converts decoded traces to stored rows with attributes sorted
// (tags arrive as a JSON object, so their order is not meaningful).
func rowsOf(t *testing.T, body string, decode func([]byte) (ptrace.Traces, error)) []model.Event {
	t.Helper()
	td, err := decode([]byte(body))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	rows := tracestore.AppendRows(nil, "", td)
	for i := range rows {
		sort.Slice(rows[i].Attrs, func(a, b int) bool { return rows[i].Attrs[a].Key < rows[i].Attrs[b].Key })
	}
	return rows
}

func TestDecodeV1MatchesV2(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v1, v2 string
	}{
		{
			name: "server span with client address, tags and an annotation",
			v1: `[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get /api","timestamp":1700000000000000,"duration":150000,
			  "annotations":[{"timestamp":1700000000000000,"value":"sr","endpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306}},
			                 {"timestamp":1700000000050000,"value":"cache miss","endpoint":{"serviceName":"backend"}},
			                 {"timestamp":1700000000150000,"value":"ss","endpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306}}],
			  "binaryAnnotations":[{"key":"http.method","value":"GET","endpoint":{"serviceName":"backend"}},
			                       {"key":"error","value":"boom","endpoint":{"serviceName":"backend"}},
			                       {"key":"ca","value":true,"type":"BOOL","endpoint":{"ipv4":"172.19.0.2","port":58648}}]}]`,
			v2: `[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get /api","kind":"SERVER",
			  "timestamp":1700000000000000,"duration":150000,"localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
			  "remoteEndpoint":{"ipv4":"172.19.0.2","port":58648},"tags":{"http.method":"GET","error":"boom"},
			  "annotations":[{"timestamp":1700000000050000,"value":"cache miss"}]}]`,
		},
		{
			name: "client span timed by cs and cr, server address names the peer",
			v1: `[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2","name":"query",
			  "annotations":[{"timestamp":1700000000010000,"value":"cs","endpoint":{"serviceName":"backend"}},
			                 {"timestamp":1700000000030000,"value":"cr","endpoint":{"serviceName":"backend"}}],
			  "binaryAnnotations":[{"key":"sa","value":true,"endpoint":{"serviceName":"mysql","ipv6":"::1","port":3306}},
			                       {"key":"rows","value":42,"type":"I64","endpoint":{"serviceName":"backend"}},
			                       {"key":"cached","value":false,"type":"BOOL"}]}]`,
			v2: `[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2","name":"query","kind":"CLIENT",
			  "timestamp":1700000000010000,"duration":20000,"localEndpoint":{"serviceName":"backend"},
			  "remoteEndpoint":{"serviceName":"mysql","ipv6":"::1","port":3306},"tags":{"rows":"42","cached":"false"}}]`,
		},
		{
			name: "one v1 span shared by client and server becomes two v2 spans",
			v1: `[{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","parentId":"0020000000000001","name":"get",
			  "timestamp":1700000001000000,"duration":40000,
			  "annotations":[{"timestamp":1700000001000000,"value":"cs","endpoint":{"serviceName":"frontend"}},
			                 {"timestamp":1700000001005000,"value":"sr","endpoint":{"serviceName":"backend"}},
			                 {"timestamp":1700000001030000,"value":"ss","endpoint":{"serviceName":"backend"}},
			                 {"timestamp":1700000001040000,"value":"cr","endpoint":{"serviceName":"frontend"}},
			                 {"timestamp":1700000001010000,"value":"db done","endpoint":{"serviceName":"backend"}}],
			  "binaryAnnotations":[{"key":"http.path","value":"/api","endpoint":{"serviceName":"frontend"}},
			                       {"key":"srv.tag","value":"x","endpoint":{"serviceName":"backend"}}]}]`,
			v2: `[{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","parentId":"0020000000000001","name":"get","kind":"CLIENT",
			  "timestamp":1700000001000000,"duration":40000,"localEndpoint":{"serviceName":"frontend"},"tags":{"http.path":"/api"}},
			  {"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","parentId":"0020000000000001","name":"get","kind":"SERVER",
			  "shared":true,"timestamp":1700000001005000,"duration":25000,"localEndpoint":{"serviceName":"backend"},"tags":{"srv.tag":"x"},
			  "annotations":[{"timestamp":1700000001010000,"value":"db done"}]}]`,
		},
		{
			name: "local span named by its lc annotation",
			v1: `[{"traceId":"5af7183fb1d4cf5f","id":"1111111111111111","name":"compute","timestamp":1700000002000000,"duration":7,"debug":true,
			  "binaryAnnotations":[{"key":"lc","value":"worker","endpoint":{"serviceName":"batch"}}]}]`,
			v2: `[{"traceId":"5af7183fb1d4cf5f","id":"1111111111111111","name":"compute","timestamp":1700000002000000,"duration":7,"debug":true,
			  "localEndpoint":{"serviceName":"batch"},"tags":{"lc":"worker"}}]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rowsOf(t, tc.v1, DecodeV1)
			want := rowsOf(t, tc.v2, Decode)
			if len(got) != len(want) {
				t.Fatalf("v1 gives %d rows, v2 %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("row %d:\n v1 %+v\n v2 %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestDecodeV1Errors(t *testing.T) {
	for _, bad := range []string{
		`{`,
		`[{"traceId":"zz","id":"6b221d5bc9e6496c"}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b22"}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","binaryAnnotations":[{"key":"k","value":{"nested":1}}]}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","binaryAnnotations":[{"value":"no key"}]}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","timestamp":-5}]`,
	} {
		if _, err := DecodeV1([]byte(bad)); !errors.Is(err, failure.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestHandlerV1(t *testing.T) {
	var stored int
	sink := sinkFunc(func(_ context.Context, td ptrace.Traces) error { stored += td.SpanCount(); return nil })
	mux := http.NewServeMux()
	(&Handler{Sink: sink, MaxRequestBytes: 1 << 20}).Register(mux)
	body := `[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"x",
	  "annotations":[{"timestamp":1,"value":"cs","endpoint":{"serviceName":"a"}},{"timestamp":1,"value":"sr","endpoint":{"serviceName":"b"}}]}]`
	for _, tc := range []struct {
		ct    string
		code  int
		spans int
	}{
		{"application/json", http.StatusAccepted, 2},
		{"application/x-thrift", http.StatusUnsupportedMediaType, 0},
	} {
		stored = 0
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/spans", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", tc.ct)
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.code || stored != tc.spans {
			t.Errorf("%s: %d with %d spans stored, want %d with %d", tc.ct, rec.Code, stored, tc.code, tc.spans)
		}
	}
}

// FuzzDecodeV1 checks that no input panics and that accepted input gives
// spans with the ids a store needs.
func FuzzDecodeV1(f *testing.F) {
	f.Add([]byte(`[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get","annotations":[{"timestamp":1,"value":"cs","endpoint":{"serviceName":"a"}},{"timestamp":3,"value":"sr","endpoint":{"serviceName":"b"}},{"timestamp":4,"value":"ss"},{"timestamp":9,"value":"cr"}],"binaryAnnotations":[{"key":"sa","value":true,"endpoint":{"serviceName":"db"}},{"key":"n","value":1.5},{"key":"lc","value":"x","endpoint":{"serviceName":"c"}}]}]`))
	f.Add([]byte(`[{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","timestamp":5,"duration":2}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		td, err := DecodeV1(body)
		if err != nil {
			if !errors.Is(err, failure.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		for _, r := range tracestore.AppendRows(nil, "", td) {
			if r.Signal == model.SignalSpan && (r.TraceID == (model.TraceID{}) && r.SpanID == (model.SpanID{})) {
				t.Fatalf("accepted a span without ids: %+v", r)
			}
			if r.Duration < 0 {
				t.Fatalf("negative duration: %+v", r)
			}
		}
	})
}
