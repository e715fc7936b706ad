package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
)

// logLines returns every line a Loki range query finds in the last hour,
// oldest first.
func logLines(t testing.TB, s *Server, query string) []string {
	t.Helper()
	v := url.Values{
		"query": {query}, "direction": {"forward"}, "limit": {"5000"},
		"start": {fmt.Sprint(time.Now().Add(-time.Hour).UnixNano())}, "end": {fmt.Sprint(time.Now().Add(time.Minute).UnixNano())},
	}
	resp, err := http.Get(s.URL + "/loki/api/v1/query_range?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query_range %s: %d %s", query, resp.StatusCode, b)
	}
	var r struct {
		Data struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Stream map[string]string `json:"stream"`
				Values [][2]string       `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var out []string
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			out = append(out, v[1])
		}
	}
	sort.Strings(out)
	return out
}

// expectLines waits until query returns exactly want (in any order).
func expectLines(t *testing.T, s *Server, query string, want []string) {
	t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	Eventually(t, 10*time.Second, func() error {
		got := logLines(t, s, query)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s: got %d lines %q, want %d", query, len(got), got, len(want))
		}
		return nil
	})
}

func genLines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s line %03d user=u%d", prefix, i, i%7)
	}
	return out
}

func post(t *testing.T, u, ct string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func otlpLogs(service string, lines []string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	now := time.Now()
	for i, l := range lines {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Microsecond)))
		lr.Body().SetStr(l)
		lr.SetSeverityText("INFO")
		lr.SetTraceID([16]byte{0xab, byte(i)})
	}
	return ld
}

func TestLogsOTLPIngest(t *testing.T) {
	s := StartServer(t)
	lines := genLines("otlp-http", 50)
	body, err := plogotlp.NewExportRequestFromLogs(otlpLogs("otlp-http", lines)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{s.OTLPHTTP + "/v1/logs"} {
		if code, b := post(t, u, "application/x-protobuf", body, nil); code != 200 {
			t.Fatalf("%s: %d %s", u, code, b)
		}
	}
	expectLines(t, s, `{service_name="otlp-http"}`, lines)

	jsonLines := genLines("otlp-json", 10)
	jb, _ := plogotlp.NewExportRequestFromLogs(otlpLogs("otlp-json", jsonLines)).MarshalJSON()
	if code, b := post(t, s.URL+"/otlp/v1/logs", "application/json", jb, nil); code != 200 {
		t.Fatalf("json: %d %s", code, b)
	}
	expectLines(t, s, `{service_name="otlp-json"}`, jsonLines)

	// gRPC, sent twice with the same agent batch id: stored once.
	conn, err := grpc.NewClient(s.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	grpcLines := genLines("otlp-grpc", 20)
	req := plogotlp.NewExportRequestFromLogs(otlpLogs("otlp-grpc", grpcLines))
	for range 2 {
		c := metadata.AppendToOutgoingContext(ctx(t), "x-sightline-batch-id", "e2e-batch-1")
		if _, err := client.Export(c, req); err != nil {
			t.Fatal(err)
		}
	}
	expectLines(t, s, `{service_name="otlp-grpc"}`, grpcLines)
	// Severity and trace ids are kept and searchable.
	expectLines(t, s, `{service_name="otlp-grpc"} | level="INFO" | trace_id="ab030000000000000000000000000000"`, grpcLines[3:4])
}

// lokiProto encodes a Loki PushRequest by hand (see internal/ingest/loki).
func lokiProto(labels string, lines []string, meta map[string]string) []byte {
	var sb []byte
	sb = protowire.AppendTag(sb, 1, protowire.BytesType)
	sb = protowire.AppendString(sb, labels)
	now := time.Now().UnixNano()
	for i, l := range lines {
		ts := now + int64(i)
		var tb []byte
		tb = protowire.AppendTag(tb, 1, protowire.VarintType)
		tb = protowire.AppendVarint(tb, uint64(ts/1e9))
		tb = protowire.AppendTag(tb, 2, protowire.VarintType)
		tb = protowire.AppendVarint(tb, uint64(ts%1e9))
		var eb []byte
		eb = protowire.AppendTag(eb, 1, protowire.BytesType)
		eb = protowire.AppendBytes(eb, tb)
		eb = protowire.AppendTag(eb, 2, protowire.BytesType)
		eb = protowire.AppendString(eb, l)
		for k, v := range meta {
			var lp []byte
			lp = protowire.AppendTag(lp, 1, protowire.BytesType)
			lp = protowire.AppendString(lp, k)
			lp = protowire.AppendTag(lp, 2, protowire.BytesType)
			lp = protowire.AppendString(lp, v)
			eb = protowire.AppendTag(eb, 3, protowire.BytesType)
			eb = protowire.AppendBytes(eb, lp)
		}
		sb = protowire.AppendTag(sb, 2, protowire.BytesType)
		sb = protowire.AppendBytes(sb, eb)
	}
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, sb)
	return snappy.Encode(nil, req)
}

func TestLogsLokiPush(t *testing.T) {
	s := StartServer(t)
	protoLines := genLines("loki-proto", 40)
	if code, b := post(t, s.URL+"/loki/api/v1/push", "application/x-protobuf", lokiProto(`{job="lp", env="e2e"}`, protoLines, map[string]string{"pod": "p-1"}), nil); code != 204 {
		t.Fatalf("proto push: %d %s", code, b)
	}
	expectLines(t, s, `{job="lp"}`, protoLines)
	expectLines(t, s, `{job="lp"} | pod="p-1" |= "line 007"`, protoLines[7:8])

	var vals []string
	jsonLines := genLines("loki-json", 15)
	for i, l := range jsonLines {
		vals = append(vals, fmt.Sprintf(`["%d",%q]`, time.Now().UnixNano()+int64(i), l))
	}
	body := `{"streams":[{"stream":{"job":"lj"},"values":[` + strings.Join(vals, ",") + `]}]}`
	if code, b := post(t, s.URL+"/loki/api/v1/push", "application/json", []byte(body), map[string]string{"X-Scope-OrgID": "tenant-b"}); code != 204 {
		t.Fatalf("json push: %d %s", code, b)
	}
	// Tenants are separate.
	expectLines(t, s, `{job="lj"}`, nil)
	Eventually(t, 10*time.Second, func() error {
		req, _ := http.NewRequest("GET", s.URL+"/loki/api/v1/query_range?"+url.Values{"query": {`count_over_time({job="lj"}[1h])`}, "step": {"60"}}.Encode(), nil)
		req.Header.Set("X-Scope-OrgID", "tenant-b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"15"`) {
			return fmt.Errorf("tenant-b count: %s", b)
		}
		return nil
	})
}

func TestLogsJSONLineAndElastic(t *testing.T) {
	s := StartServer(t)
	var nd bytes.Buffer
	jl := genLines("jsonline", 30)
	for i, l := range jl {
		fmt.Fprintf(&nd, `{"_msg":%q,"_time":"%s","app":"jl","n":%d}`+"\n", l, time.Now().Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano), i)
	}
	if code, b := post(t, s.URL+"/api/v1/logs/jsonline?_stream_fields=app", "application/x-ndjson", nd.Bytes(), nil); code != 200 {
		t.Fatalf("jsonline: %d %s", code, b)
	}
	expectLines(t, s, `{app="jl"}`, jl)
	expectLines(t, s, `{app="jl"} | n > 27`, jl[28:])

	nd.Reset()
	es := genLines("elastic", 30)
	for _, l := range es {
		fmt.Fprintf(&nd, "{\"create\":{}}\n{\"@timestamp\":%q,\"message\":%q,\"service\":{\"name\":\"es\"}}\n", time.Now().UTC().Format(time.RFC3339Nano), l)
	}
	code, b := post(t, s.URL+"/elastic/logs-e2e/_bulk", "application/vnd.elasticsearch+x-ndjson; compatible-with=8", nd.Bytes(), nil)
	if code != 200 || !strings.Contains(b, `"errors":false`) {
		t.Fatalf("bulk: %d %s", code, b)
	}
	expectLines(t, s, `{service_name="es"} | es_index="logs-e2e"`, es)
}

func TestLogsBadInputKeepsServing(t *testing.T) {
	s := StartServer(t)
	for _, tc := range []struct {
		path, ct, body, want string
		code                 int
	}{
		{"/loki/api/v1/push", "application/x-protobuf", "\xff\x00garbage", "snappy", 400},
		{"/loki/api/v1/push", "application/json", `{"streams":[{"stream":{"a":"b"},"values":[["x","y"]]}]}`, "not Unix nanoseconds", 400},
		{"/api/v1/logs/jsonline", "application/x-ndjson", "{\"_msg\":\"ok\"}\n{broken\n", "line 2", 400},
		{"/elastic/_bulk", "application/x-ndjson", "{\"index\":{}}\n", "without a document", 400},
		{"/otlp/v1/logs", "application/x-protobuf", "\xff\xff\xff", "decode OTLP", 400},
	} {
		code, b := post(t, s.URL+tc.path, tc.ct, []byte(tc.body), nil)
		if code != tc.code || !strings.Contains(b, tc.want) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.path, code, b, tc.code, tc.want)
		}
	}
	resp, err := http.Get(s.URL + "/loki/api/v1/query_range?query=" + url.QueryEscape(`{a="b"`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "parse error") {
		t.Errorf("bad query: %d %s", resp.StatusCode, b)
	}
	ok := genLines("after-bad", 3)
	body, _ := plogotlp.NewExportRequestFromLogs(otlpLogs("after-bad", ok)).MarshalProto()
	if code, b := post(t, s.URL+"/otlp/v1/logs", "application/x-protobuf", body, nil); code != 200 {
		t.Fatalf("good request after bad ones: %d %s", code, b)
	}
	expectLines(t, s, `{service_name="after-bad"}`, ok)
}

func TestLogsAgentOnce(t *testing.T) {
	s := StartServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	lines := genLines("agent", 200)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() {
		cmd := exec.Command(binary, "agent", "--once", "--server", s.URL, "--path", file,
			"--data-dir", filepath.Join(dir, "agent"), "--label", "service.name=agent-e2e")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("agent: %v\n%s", err, out)
		}
	}
	run()
	expectLines(t, s, `{service_name="agent-e2e"}`, lines)
	// A second run resumes from its checkpoint: nothing is sent twice.
	run()
	time.Sleep(500 * time.Millisecond)
	expectLines(t, s, `{service_name="agent-e2e"}`, lines)
}

func TestLogsLokiLabelsSeriesStats(t *testing.T) {
	s := StartServer(t)
	lines := genLines("labels", 3)
	if code, b := post(t, s.URL+"/loki/api/v1/push", "application/x-protobuf", lokiProto(`{job="lbl", team="a"}`, lines, nil), nil); code != 204 {
		t.Fatalf("push: %d %s", code, b)
	}
	expectLines(t, s, `{job="lbl"}`, lines)
	for path, want := range map[string]string{
		"/loki/api/v1/labels":                                              `"job"`,
		"/loki/api/v1/label/team/values":                                   `["a"]`,
		"/loki/api/v1/series?match[]=" + url.QueryEscape(`{job="lbl"}`):    `{"job":"lbl","team":"a"}`,
		"/loki/api/v1/index/stats?query=" + url.QueryEscape(`{job="lbl"}`): `"entries":3`,
		"/loki/api/v1/status/buildinfo":                                    `"version"`,
	} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestLogsLokiTail follows a query over the websocket tail endpoint of the
// real binary while lines are pushed.
func TestLogsLokiTail(t *testing.T) {
	s := StartServer(t)
	u := strings.Replace(s.URL, "http", "ws", 1) + "/loki/api/v1/tail?" + url.Values{"query": {`{job="tail"} |= "keep"`}}.Encode()
	c, _, err := websocket.Dial(ctx(t), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	want := []string{"keep 1", "keep 2", "keep 3"}
	go func() {
		for i, l := range []string{"keep 1", "drop 1", "keep 2", "keep 3"} {
			time.Sleep(300 * time.Millisecond)
			body := fmt.Sprintf(`{"streams":[{"stream":{"job":"tail"},"values":[["%d",%q]]}]}`, time.Now().UnixNano()+int64(i), l)
			resp, err := http.Post(s.URL+"/loki/api/v1/push", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	var got []string
	for len(got) < len(want) {
		_, b, err := c.Read(ctx(t))
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		var m struct {
			Streams []struct {
				Stream map[string]string `json:"stream"`
				Values [][2]string       `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		for _, st := range m.Streams {
			for _, v := range st.Values {
				got = append(got, v[1])
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tail got %q, want %q", got, want)
	}
}
