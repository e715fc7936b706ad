package loki

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

// encodePush builds a PushRequest the way Loki's clients marshal it.
func encodePush(streams []Stream) []byte {
	var req []byte
	for _, s := range streams {
		var sb []byte
		sb = protowire.AppendTag(sb, 1, protowire.BytesType)
		sb = protowire.AppendString(sb, s.Labels)
		for _, e := range s.Entries {
			var ts []byte
			ts = protowire.AppendTag(ts, 1, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(e.Time/1e9))
			ts = protowire.AppendTag(ts, 2, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(e.Time%1e9))
			var eb []byte
			eb = protowire.AppendTag(eb, 1, protowire.BytesType)
			eb = protowire.AppendBytes(eb, ts)
			eb = protowire.AppendTag(eb, 2, protowire.BytesType)
			eb = protowire.AppendString(eb, e.Line)
			for _, m := range e.Metadata {
				var lp []byte
				lp = protowire.AppendTag(lp, 1, protowire.BytesType)
				lp = protowire.AppendString(lp, m.Name)
				lp = protowire.AppendTag(lp, 2, protowire.BytesType)
				lp = protowire.AppendString(lp, m.Value)
				eb = protowire.AppendTag(eb, 3, protowire.BytesType)
				eb = protowire.AppendBytes(eb, lp)
			}
			sb = protowire.AppendTag(sb, 2, protowire.BytesType)
			sb = protowire.AppendBytes(sb, eb)
		}
		sb = protowire.AppendTag(sb, 3, protowire.VarintType) // hash, ignored
		sb = protowire.AppendVarint(sb, 12345)
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, sb)
	}
	return req
}

type memWriter struct {
	mu   sync.Mutex
	rows []model.Event
}

func (m *memWriter) Write(_ context.Context, rows []model.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, rows...)
	return nil
}

func newHandler(t *testing.T) (*Handler, *memWriter) {
	s, err := logstore.NewSchema(logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &memWriter{}
	return &Handler{Schema: s, Writer: w, MaxRequestBytes: 1 << 20}, w
}

func TestPushProtoAndJSON(t *testing.T) {
	streams := []Stream{{Labels: `{app="shop", env="prod"}`, Entries: []Entry{
		{Time: 1_700_000_000_123456789, Line: "first"},
		{Time: 1_700_000_001_000000000, Line: "second", Metadata: nil},
	}}}
	streams[0].Entries[1].Metadata = append(streams[0].Entries[1].Metadata, labelsOf("trace_id", "0af7651916cd43dd8448eb211c80319c", "user", "u1")...)
	proto := snappy.Encode(nil, encodePush(streams))
	jsonBody := `{"streams":[{"stream":{"app":"shop","env":"prod"},"values":[["1700000000123456789","first"],["1700000001000000000","second",{"trace_id":"0af7651916cd43dd8448eb211c80319c","user":"u1"}]]}]}`
	for _, tc := range []struct {
		name, ct string
		body     []byte
	}{
		{"proto", "application/x-protobuf", proto},
		{"json", "application/json", []byte(jsonBody)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, w := newHandler(t)
			req := httptest.NewRequest("POST", "/loki/api/v1/push", bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			req.Header.Set("X-Scope-OrgID", "team-a")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if len(w.rows) != 2 {
				t.Fatalf("got %d rows", len(w.rows))
			}
			r0, r1 := w.rows[0], w.rows[1]
			if r0.Tenant != "team-a" || r0.Body != "first" || r0.Time != 1_700_000_000_123456789 || r0.Stream.String() != `{app="shop", env="prod"}` {
				t.Errorf("row 0: %+v", r0)
			}
			if r1.TraceID.String() != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("trace id not kept: %v", r1.TraceID)
			}
			if v, ok := r1.Field("user"); !ok || v.Str != "u1" {
				t.Errorf("structured metadata not kept: %+v", r1.Attrs)
			}
		})
	}
}

func TestPushBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body, org, want string
		code                      int
	}{
		{"not snappy", "application/x-protobuf", "garbage", "", "snappy", 400},
		{"bad json", "application/json", `{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}`, "", "timestamp must be a string", 400},
		{"bad ts", "application/json", `{"streams":[{"stream":{"a":"b"},"values":[["abc","x"]]}]}`, "", "not Unix nanoseconds", 400},
		{"no labels", "application/json", `{"streams":[{"stream":{},"values":[["1","x"]]}]}`, "", "at least one label", 400},
		{"bad org", "application/json", `{"streams":[]}`, "a/b", "X-Scope-OrgID", 400},
		{"media type", "text/plain", `x`, "", "not a Loki push", 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t)
			req := httptest.NewRequest("POST", "/loki/api/v1/push", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			if tc.org != "" {
				req.Header.Set("X-Scope-OrgID", tc.org)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("got %d %q, want %d containing %q", rec.Code, rec.Body, tc.code, tc.want)
			}
		})
	}
}

func labelsOf(kv ...string) []labelPair {
	var out []labelPair
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, labelPair{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// A push is charged for its entries and for its stream labels, which each
// entry carries into the store: many labels over many tiny entries are
// refused before they are decoded when they could never fit the budget.
func TestPushChargesEntriesAndLabels(t *testing.T) {
	var lbl strings.Builder
	lbl.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&lbl, `l%d="value-%d",`, i, i)
	}
	lbl.WriteString(`app="x"}`)
	entries := make([]Entry, 1000)
	for i := range entries {
		entries[i] = Entry{Time: int64(1_700_000_000+i) * 1e9, Line: "x"}
	}
	body := encodePush([]Stream{{Labels: lbl.String(), Entries: entries}})
	n, cost, err := pushCost(body)
	if err != nil || n != 1000 || cost < 1000*int64(2*lbl.Len()) {
		t.Fatalf("pushCost: %d entries, %d bytes, %v; want 1000 entries and at least the labels twice per entry", n, cost, err)
	}
	h, w := newHandler(t)
	h.Limiter = ingest.NewLimiter(4<<20, nil) // the request needs ~8 MB
	req := httptest.NewRequest("POST", "/loki/api/v1/push", bytes.NewReader(snappy.Encode(nil, body)))
	req.Header.Set("Content-Type", "application/x-protobuf")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || len(w.rows) != 0 || h.Limiter.InUse() != 0 {
		t.Fatalf("want 413 with nothing stored or reserved: %d %s, %d rows, %d bytes", rec.Code, rec.Body, len(w.rows), h.Limiter.InUse())
	}
}

// The same for a JSON push: entries and labels are counted from where
// their arrays and objects sit, before anything is decoded.
func TestJSONPushChargesEntriesAndLabels(t *testing.T) {
	var lbl, body strings.Builder
	lbl.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&lbl, `"l%d":"value-%d",`, i, i)
	}
	lbl.WriteString(`"app":"x"}`)
	fmt.Fprintf(&body, `{"streams":[{"stream":%s,"values":[`, lbl.String())
	for i := range 1000 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `["%d","x [%d]"]`, int64(1_700_000_000+i)*1e9, i)
	}
	body.WriteString(`]}]}`)
	n, cost := pushCostJSON([]byte(body.String()))
	if n != 1000 || cost < 1000*int64(2*lbl.Len()) {
		t.Fatalf("pushCostJSON: %d entries, %d bytes; want 1000 entries and at least the labels twice per entry", n, cost)
	}
	h, w := newHandler(t)
	h.Limiter = ingest.NewLimiter(4<<20, nil) // the request needs ~8 MB
	req := httptest.NewRequest("POST", "/loki/api/v1/push", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "1000 entries") ||
		len(w.rows) != 0 || h.Limiter.InUse() != 0 {
		t.Fatalf("want 413 with nothing stored or reserved: %d %s, %d rows, %d bytes", rec.Code, rec.Body, len(w.rows), h.Limiter.InUse())
	}
	h.Limiter = ingest.NewLimiter(64<<20, nil)
	req = httptest.NewRequest("POST", "/loki/api/v1/push", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", "application/json")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code/100 != 2 || len(w.rows) != 1000 || h.Limiter.InUse() != 0 {
		t.Fatalf("with room in the budget: %d %s, %d rows, %d bytes reserved", rec.Code, rec.Body, len(w.rows), h.Limiter.InUse())
	}
}

func FuzzDecodeProto(f *testing.F) {
	f.Add(encodePush([]Stream{{Labels: `{a="b"}`, Entries: []Entry{{Time: 5, Line: "x", Metadata: labelsOf("k", "v")}}}}))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	s, _ := logstore.NewSchema(logstore.Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _, cerr := pushCost(b)
		streams, err := DecodeProto(b)
		if err != nil {
			return
		}
		n := 0
		for _, st := range streams {
			n += len(st.Entries)
		}
		if cerr != nil || entries != n {
			t.Fatalf("pushCost counted %d entries (%v), the decoder %d", entries, cerr, n)
		}
		rows, err := Rows(s, "", streams, 1)
		if err != nil {
			return
		}
		for i := range rows {
			if err := rows[i].Validate(); err != nil {
				t.Fatalf("decoded row is invalid: %v", err)
			}
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":"v"}]]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}`))
	s, _ := logstore.NewSchema(logstore.Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _ := pushCostJSON(b)
		streams, err := DecodeJSON(b)
		if err != nil {
			return
		}
		n := 0
		for _, st := range streams {
			n += len(st.Entries)
		}
		if entries < n {
			t.Fatalf("pushCostJSON counted %d entries, the decoder %d", entries, n)
		}
		rows, err := Rows(s, "", streams, 1)
		if err != nil {
			return
		}
		for i := range rows {
			if err := rows[i].Validate(); err != nil {
				t.Fatalf("decoded row is invalid: %v", err)
			}
		}
	})
}

type labelPair = labels.Label
