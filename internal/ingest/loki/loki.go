// Package loki decodes Loki push requests (POST /loki/api/v1/push):
// protobuf (snappy-compressed, as promtail, Alloy and Fluent Bit send) and
// JSON, with structured metadata and the X-Scope-OrgID tenant. The protobuf
// messages are small and decoded here by hand with protowire; no Loki code
// is used. Pushed stream labels stay stream labels (Loki's model);
// structured metadata become attributes.
//
// A *Handler is safe for concurrent use.
package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// Entry is one pushed line.
type Entry struct {
	Time     int64 // Unix ns
	Line     string
	Metadata []labels.Label
}

// Stream is one pushed stream.
type Stream struct {
	Labels  string // as sent, e.g. {app="x"}
	Entries []Entry
}

// DecodeProto decodes a (decompressed) protobuf PushRequest.
func DecodeProto(b []byte) ([]Stream, error) {
	var out []Stream
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("decode push request: bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("decode push request: bad stream: %w", protowire.ParseError(n))
			}
			s, err := decodeStream(v)
			if err != nil {
				return nil, fmt.Errorf("decode push request: stream %d: %w", len(out), err)
			}
			out = append(out, s)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, fmt.Errorf("decode push request: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return out, nil
}

func decodeStream(b []byte) (Stream, error) {
	var s Stream
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, fmt.Errorf("labels: %w", protowire.ParseError(n))
			}
			s.Labels = string(v)
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, fmt.Errorf("entry: %w", protowire.ParseError(n))
			}
			e, err := decodeEntry(v)
			if err != nil {
				return s, fmt.Errorf("entry %d: %w", len(s.Entries), err)
			}
			s.Entries = append(s.Entries, e)
			b = b[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return s, nil
}

func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return e, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, fmt.Errorf("timestamp: %w", protowire.ParseError(n))
			}
			t, err := decodeTimestamp(v)
			if err != nil {
				return e, err
			}
			e.Time = t
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, fmt.Errorf("line: %w", protowire.ParseError(n))
			}
			e.Line = string(v)
			b = b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, fmt.Errorf("structured metadata: %w", protowire.ParseError(n))
			}
			l, err := decodeLabelPair(v)
			if err != nil {
				return e, err
			}
			e.Metadata = append(e.Metadata, l)
			b = b[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return e, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return e, nil
}

func decodeTimestamp(b []byte) (int64, error) {
	var sec, nanos int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("timestamp: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, fmt.Errorf("timestamp: %w", protowire.ParseError(n))
			}
			if num == 1 {
				sec = int64(v)
			} else {
				nanos = int64(int32(v))
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, fmt.Errorf("timestamp: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	if sec < 0 || sec > math.MaxInt64/int64(1e9)-1 || nanos < 0 || nanos >= 1e9 {
		return 0, fmt.Errorf("timestamp %d.%09d is out of range", sec, nanos)
	}
	return sec*1e9 + nanos, nil
}

func decodeLabelPair(b []byte) (labels.Label, error) {
	var l labels.Label
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return l, fmt.Errorf("label pair: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return l, fmt.Errorf("label pair: %w", protowire.ParseError(n))
			}
			if num == 1 {
				l.Name = string(v)
			} else {
				l.Value = string(v)
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return l, fmt.Errorf("label pair: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	return l, nil
}

type jsonPush struct {
	Streams []struct {
		Stream map[string]string   `json:"stream"`
		Values [][]json.RawMessage `json:"values"`
	} `json:"streams"`
}

// DecodeJSON decodes a JSON push request:
// {"streams":[{"stream":{…},"values":[["<unix ns>","line",{…metadata}]]}]}.
func DecodeJSON(b []byte) ([]Stream, error) {
	var req jsonPush
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("decode JSON push request: %w", err)
	}
	out := make([]Stream, 0, len(req.Streams))
	for i, js := range req.Streams {
		lb := labels.NewBuilder(labels.EmptyLabels())
		for k, v := range js.Stream {
			lb.Set(k, v)
		}
		s := Stream{Labels: lb.Labels().String()}
		for j, v := range js.Values {
			if len(v) < 2 || len(v) > 3 {
				return nil, fmt.Errorf("decode JSON push request: stream %d value %d: want [\"<unix ns>\", \"<line>\"] or with a metadata object, got %d elements", i, j, len(v))
			}
			var ts, line string
			if err := json.Unmarshal(v[0], &ts); err != nil {
				return nil, fmt.Errorf("decode JSON push request: stream %d value %d: timestamp must be a string of Unix nanoseconds: %w", i, j, err)
			}
			t, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("decode JSON push request: stream %d value %d: timestamp %q is not Unix nanoseconds", i, j, ts)
			}
			if err := json.Unmarshal(v[1], &line); err != nil {
				return nil, fmt.Errorf("decode JSON push request: stream %d value %d: line must be a string: %w", i, j, err)
			}
			e := Entry{Time: t, Line: line}
			if len(v) == 3 {
				var md map[string]string
				if err := json.Unmarshal(v[2], &md); err != nil {
					return nil, fmt.Errorf("decode JSON push request: stream %d value %d: structured metadata must be an object of strings: %w", i, j, err)
				}
				for k, val := range md {
					e.Metadata = append(e.Metadata, labels.Label{Name: k, Value: val})
				}
			}
			s.Entries = append(s.Entries, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseLabels parses a stream's label string {a="b", …}.
func ParseLabels(s string) (labels.Labels, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" {
		return labels.EmptyLabels(), fmt.Errorf("stream labels %q: at least one label is required", s)
	}
	ms, err := logql.ParseMatchers(s)
	if err != nil {
		return labels.EmptyLabels(), fmt.Errorf("stream labels %q: %w", s, err)
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for _, m := range ms {
		if m.Type != labels.MatchEqual {
			return labels.EmptyLabels(), fmt.Errorf("stream labels %q: only name=\"value\" pairs are allowed", s)
		}
		lb.Set(m.Name, m.Value)
	}
	return lb.Labels(), nil
}

// Writer stores rows; *logstore.Writer implements it.
type Writer interface {
	Write(ctx context.Context, rows []model.Event) error
}

// Handler serves POST /loki/api/v1/push.
type Handler struct {
	Schema          *logstore.Schema
	Writer          Writer
	MaxRequestBytes int64
	Limiter         *ingest.Limiter
}

// Tenant returns the X-Scope-OrgID tenant of r ("" when absent) or an
// error naming what is wrong with it.
func Tenant(r *http.Request) (string, error) {
	t := r.Header.Get("X-Scope-OrgID")
	if len(t) > 150 {
		return "", fmt.Errorf("X-Scope-OrgID is longer than 150 bytes: %w", failure.ErrInvalid)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!-_.*'()", c) >= 0) {
			return "", fmt.Errorf("X-Scope-OrgID %q has a character outside [a-zA-Z0-9!-_.*'()]: %w", t, failure.ErrInvalid)
		}
	}
	return t, nil
}

// pushCost counts a protobuf push request's entries and estimates the
// memory they take once decoded, without decoding them: each entry is a
// row, and each row carries its stream's labels into the store (twice the
// labels' text, as key and labels). Streams are field 1 of the request,
// with their labels in field 1 and entries in field 2.
func pushCost(b []byte) (entries int, cost int64, err error) {
	err = ingest.EachField(b, func(num protowire.Number, st []byte) error {
		if num != 1 {
			return nil
		}
		var lbl, n int
		err := ingest.EachField(st, func(num protowire.Number, v []byte) error {
			switch num {
			case 1:
				lbl += len(v)
			case 2:
				n++
			}
			return nil
		})
		entries += n
		cost += int64(n) * (ingest.CostRow + 2*int64(lbl))
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return entries, cost, nil
}

// pushCostJSON is pushCost for a JSON push request,
// {"streams":[{"stream":{labels},"values":[[ts,line],…]}]}: entries are
// the arrays at depth 4, a stream's labels the object at depth 3 (counted
// for the entries that follow it).
func pushCostJSON(b []byte) (entries int, cost int64) {
	var lbl, start int
	ingest.WalkJSON(b, func(c byte, d, off int) {
		switch {
		case d == 2 && c == '{':
			lbl = 0
		case d == 3 && c == '{':
			start = off
		case d == 3 && c == '}':
			lbl += off - start
		case d == 4 && c == '[':
			entries++
			cost += ingest.CostRow + 2*int64(lbl)
		}
	})
	return entries, cost
}

// Rows converts decoded streams into rows for tenant. The rows of a stream
// share its labels (a stream's labels were copied into each of its rows:
// a few kilobytes of labels over many entries took gigabytes).
func Rows(s *logstore.Schema, tenant string, streams []Stream, now int64) ([]model.Event, error) {
	var rows []model.Event
	r := s.NewSharingRecord(tenant, now)
	for i, st := range streams {
		ls, err := ParseLabels(st.Labels)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i, err)
		}
		for _, e := range st.Entries {
			t := e.Time
			if t == 0 {
				t = now
			}
			r.Reset(tenant, t)
			ls.Range(func(l labels.Label) { r.AddStreamLabel(l.Name, l.Value) })
			r.SetBody(e.Line)
			for _, m := range e.Metadata {
				if m.Name == "" {
					continue
				}
				r.AddString(m.Name, m.Value)
			}
			rows = append(rows, r.Event())
		}
	}
	return rows, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(r); err != nil {
		ingest.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) serve(r *http.Request) error {
	tenant, err := Tenant(r)
	if err != nil {
		return err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, res, err := ingest.ReadBodyReserved(r, h.MaxRequestBytes, h.Limiter)
	if err != nil {
		return err
	}
	defer res.Release()
	var streams []Stream
	switch ct {
	case "application/json":
		entries, cost := pushCostJSON(body)
		if err = res.GrowForEstimate(int64(len(body))+cost, fmt.Sprintf("%d entries", entries)); err != nil {
			return err
		}
		streams, err = DecodeJSON(body)
	case "", "application/x-protobuf", "application/protobuf":
		if r.Header.Get("Content-Encoding") == "" {
			// Loki's protobuf is snappy-compressed without saying so.
			if body, err = ingest.DecodeSnappy(body, h.MaxRequestBytes); err != nil {
				return fmt.Errorf("decode push request: body is not snappy-compressed protobuf: %w", err)
			}
		}
		var entries int
		var cost int64
		if entries, cost, err = pushCost(body); err != nil {
			return fmt.Errorf("decode push request: %v: %w", err, failure.ErrInvalid)
		}
		if err = res.GrowForEstimate(int64(len(body))+cost, fmt.Sprintf("%d entries", entries)); err != nil {
			return err
		}
		streams, err = DecodeProto(body)
	default:
		return fmt.Errorf("content type %q is not a Loki push (use application/x-protobuf with snappy, or application/json): %w", ct, failure.ErrUnsupported)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", err, failure.ErrInvalid)
	}
	rows, err := Rows(h.Schema, tenant, streams, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("push: %w: %w", err, failure.ErrInvalid)
	}
	return h.Writer.Write(r.Context(), rows)
}
