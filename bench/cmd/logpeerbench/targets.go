package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// target is one server kind: how to ingest, flush and query it.
type target interface {
	// ingestURL and contentType of one request body.
	ingestURL() string
	contentType() string
	// bodies turns the data's lines into request bodies of about maxBytes.
	bodies(lines [][]byte, maxBytes int) ([][]byte, error)
	// flush asks the server to write what it holds to disk ("" when the
	// server has no such call and flushes by itself).
	flush(ctx context.Context, c *http.Client) (string, error)
	// queries returns the measured queries for the data described by s.
	queries(s Stats, r timeRange) []query
}

// timeRange is a query range covering the data with a minute to spare on
// each side, so that 1-minute windows count every row exactly once whatever
// the window's open end.
type timeRange struct{ start, end time.Time }

func rangeFor(s Stats) timeRange {
	return timeRange{s.Start.Truncate(time.Minute).Add(-time.Minute), s.End.Truncate(time.Minute).Add(2 * time.Minute)}
}

// answer is a query's result reduced to what the checks compare: a row
// count for log queries, counts per group for the per-level query.
type answer struct {
	Rows   int64            `json:"rows,omitempty"`
	Groups map[string]int64 `json:"groups,omitempty"`
}

func (a answer) String() string {
	if a.Groups != nil {
		return fmt.Sprint(a.Groups)
	}
	return fmt.Sprintf("%d rows", a.Rows)
}

func (a answer) equal(b answer) bool {
	if a.Rows != b.Rows || len(a.Groups) != len(b.Groups) {
		return false
	}
	for k, v := range a.Groups {
		if b.Groups[k] != v {
			return false
		}
	}
	return true
}

// query is one measured query.
type query struct {
	Name string // needle, needle_rare, count_by_level, trace_id
	Text string // as sent, for the report
	Want answer
	run  func(ctx context.Context, c *http.Client) (answer, error)
}

func newTarget(kind, base string) (target, error) {
	switch kind {
	case "sightline":
		return &lokiAPI{base: base, sightline: true}, nil
	case "loki":
		return &lokiAPI{base: base}, nil
	case "victorialogs":
		return &vlogs{base: base}, nil
	}
	return nil, fmt.Errorf("unknown target %q (want sightline, victorialogs or loki)", kind)
}

// jsonlineParams maps loggen's fields: ts is the time, msg the message,
// service the one stream field; every other field is kept as a field.
const jsonlineParams = "_time_field=ts&_msg_field=msg&_stream_fields=service"

// lokiAPI is a server queried through the Loki HTTP API with LogQL:
// sightline (ingesting JSON lines) or Loki (ingesting Loki JSON pushes).
type lokiAPI struct {
	base      string
	sightline bool
}

func (t *lokiAPI) ingestURL() string {
	if t.sightline {
		return t.base + "/api/v1/logs/jsonline?" + jsonlineParams
	}
	return t.base + "/loki/api/v1/push"
}

func (t *lokiAPI) contentType() string {
	if t.sightline {
		return "application/x-ndjson"
	}
	return "application/json"
}

func (t *lokiAPI) bodies(lines [][]byte, maxBytes int) ([][]byte, error) {
	if t.sightline {
		return ndjsonBodies(lines, maxBytes), nil
	}
	var out [][]byte
	for _, chunk := range ndjsonChunks(lines, maxBytes) {
		b, err := lokiBody(chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (t *lokiAPI) flush(ctx context.Context, c *http.Client) (string, error) {
	if t.sightline {
		return "", nil // the head is flushed when 10 s old
	}
	u := t.base + "/flush"
	_, err := do(ctx, c, http.MethodPost, u, "", nil)
	return "POST " + u, err
}

func (t *lokiAPI) queries(s Stats, r timeRange) []query {
	sel := `{service=~".+"}`
	tr := s.SampleTraces[0]
	levels := answer{Groups: s.Levels}
	needles := s.Needles // Loki's line is the raw record
	if t.sightline {
		needles = s.MsgNeedles // sightline's line is the msg field
	}
	return []query{
		t.logQuery("needle", sel+` |= "quixotry"`, r, answer{Rows: needles["quixotry"]}),
		t.logQuery("needle_rare", sel+` |= "zymurgy"`, r, answer{Rows: needles["zymurgy"]}),
		// LogQL's |= is always a substring search: the same query again,
		// the row VictoriaLogs answers with its substring filter.
		t.logQuery("needle_substring", sel+` |= "quixotry"`, r, answer{Rows: needles["quixotry"]}),
		t.metricQuery("count_by_level", `sum by (level) (count_over_time(`+sel+`[1m]))`, r, levels),
		t.logQuery("trace_id", sel+` | trace_id="`+tr.TraceID+`"`, r, answer{Rows: tr.Records}),
	}
}

func (t *lokiAPI) logQuery(name, q string, r timeRange, want answer) query {
	v := url.Values{"query": {q}, "start": {ns(r.start)}, "end": {ns(r.end)}, "limit": {"5000"}, "direction": {"backward"}}
	u := t.base + "/loki/api/v1/query_range?" + v.Encode()
	return query{Name: name, Text: q, Want: want, run: func(ctx context.Context, c *http.Client) (answer, error) {
		b, err := do(ctx, c, http.MethodGet, u, "", nil)
		if err != nil {
			return answer{}, err
		}
		return parseLokiStreams(b)
	}}
}

func (t *lokiAPI) metricQuery(name, q string, r timeRange, want answer) query {
	v := url.Values{"query": {q}, "start": {ns(r.start)}, "end": {ns(r.end)}, "step": {"60"}}
	u := t.base + "/loki/api/v1/query_range?" + v.Encode()
	return query{Name: name, Text: q + " step 1m", Want: want, run: func(ctx context.Context, c *http.Client) (answer, error) {
		b, err := do(ctx, c, http.MethodGet, u, "", nil)
		if err != nil {
			return answer{}, err
		}
		return parseMatrix(b, "level")
	}}
}

// vlogs is VictoriaLogs, fed JSON lines and queried with LogsQL.
type vlogs struct{ base string }

func (t *vlogs) ingestURL() string   { return t.base + "/insert/jsonline?" + jsonlineParams }
func (t *vlogs) contentType() string { return "application/x-ndjson" }
func (t *vlogs) bodies(lines [][]byte, maxBytes int) ([][]byte, error) {
	return ndjsonBodies(lines, maxBytes), nil
}

func (t *vlogs) flush(ctx context.Context, c *http.Client) (string, error) {
	u := t.base + "/internal/force_flush"
	_, err := do(ctx, c, http.MethodGet, u, "", nil)
	return "GET " + u, err
}

func (t *vlogs) queries(s Stats, r timeRange) []query {
	tr := s.SampleTraces[0]
	return []query{
		t.logQuery("needle", `quixotry`, r, answer{Rows: s.MsgNeedles["quixotry"]}), // a word in _msg (msg)
		t.logQuery("needle_rare", `zymurgy`, r, answer{Rows: s.MsgNeedles["zymurgy"]}),
		t.logQuery("needle_substring", `~"quixotry"`, r, answer{Rows: s.MsgNeedles["quixotry"]}), // LogQL |= semantics
		t.statsQuery("count_by_level", `* | stats by (level) count() hits`, r, answer{Groups: s.Levels}),
		t.logQuery("trace_id", `trace_id:="`+tr.TraceID+`"`, r, answer{Rows: tr.Records}),
	}
}

func (t *vlogs) logQuery(name, q string, r timeRange, want answer) query {
	v := url.Values{"query": {q}, "start": {r.start.Format(time.RFC3339)}, "end": {r.end.Format(time.RFC3339)}}
	u := t.base + "/select/logsql/query?" + v.Encode()
	return query{Name: name, Text: q, Want: want, run: func(ctx context.Context, c *http.Client) (answer, error) {
		b, err := do(ctx, c, http.MethodGet, u, "", nil)
		if err != nil {
			return answer{}, err
		}
		return answer{Rows: int64(len(splitLines(bytes.TrimSpace(b))))}, nil
	}}
}

func (t *vlogs) statsQuery(name, q string, r timeRange, want answer) query {
	v := url.Values{"query": {q}, "start": {r.start.Format(time.RFC3339)}, "end": {r.end.Format(time.RFC3339)}, "step": {"1m"}}
	u := t.base + "/select/logsql/stats_query_range?" + v.Encode()
	return query{Name: name, Text: q + " (stats_query_range step 1m)", Want: want, run: func(ctx context.Context, c *http.Client) (answer, error) {
		b, err := do(ctx, c, http.MethodGet, u, "", nil)
		if err != nil {
			return answer{}, err
		}
		return parseMatrix(b, "level")
	}}
}

func ns(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// ndjsonChunks groups lines into runs of about maxBytes of line text.
func ndjsonChunks(lines [][]byte, maxBytes int) [][][]byte {
	var out [][][]byte
	start, size := 0, 0
	for i, l := range lines {
		if i > start && size+len(l)+1 > maxBytes {
			out = append(out, lines[start:i])
			start, size = i, 0
		}
		size += len(l) + 1
	}
	if start < len(lines) {
		out = append(out, lines[start:])
	}
	return out
}

// do sends one request and returns the body of a 2xx answer.
func do(ctx context.Context, c *http.Client, method, u, ctype string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return b, &statusError{code: resp.StatusCode, body: string(b)}
	}
	return b, nil
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	b := e.body
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, b)
}

// parseLokiStreams counts the entries of a Loki "streams" result.
func parseLokiStreams(b []byte) (answer, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Values []json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return answer{}, fmt.Errorf("decode streams response: %w", err)
	}
	if r.Status != "success" || r.Data.ResultType != "streams" {
		return answer{}, fmt.Errorf("decode streams response: status %q resultType %q", r.Status, r.Data.ResultType)
	}
	var a answer
	for _, s := range r.Data.Result {
		a.Rows += int64(len(s.Values))
	}
	return a, nil
}

// parseMatrix sums a Prometheus-style matrix result per value of label.
func parseMatrix(b []byte, label string) (answer, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return answer{}, fmt.Errorf("decode matrix response: %w", err)
	}
	if r.Status != "success" || r.Data.ResultType != "matrix" {
		return answer{}, fmt.Errorf("decode matrix response: status %q resultType %q", r.Status, r.Data.ResultType)
	}
	a := answer{Groups: map[string]int64{}}
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			str, ok := v[1].(string)
			if !ok {
				return answer{}, fmt.Errorf("decode matrix response: value %v is not a string", v[1])
			}
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return answer{}, fmt.Errorf("decode matrix response: %w", err)
			}
			a.Groups[s.Metric[label]] += int64(f)
		}
	}
	return a, nil
}
