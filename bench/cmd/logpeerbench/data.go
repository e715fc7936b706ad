package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Stats is the part of loggen's -stats ground truth the checks use.
type Stats struct {
	Format       string           `json:"format"`
	Start        time.Time        `json:"start"`
	End          time.Time        `json:"end"`
	Records      int64            `json:"records"`
	Lines        int64            `json:"lines"`
	Bytes        int64            `json:"bytes"`
	Levels       map[string]int64 `json:"levels"`
	Needles      map[string]int64 `json:"needles"`
	SampleTraces []struct {
		TraceID string `json:"trace_id"`
		Records int64  `json:"records"`
	} `json:"sample_traces"`

	// MsgNeedles counts the lines whose msg field holds each needle; it
	// differs from Needles where a needle sits in another field (loggen
	// puts it in http.path of access-log records). Servers that keep msg
	// as the message (sightline and VictoriaLogs fed JSON lines) search
	// only it; Loki, fed the raw line, finds Needles.
	MsgNeedles map[string]int64 `json:"-"`
}

// countNeedles fills s.MsgNeedles from the data and checks that the
// needles found anywhere in the lines match loggen's counts.
func (s *Stats) countNeedles(lines [][]byte) error {
	s.MsgNeedles = map[string]int64{}
	for word, want := range s.Needles {
		w := []byte(word)
		var any, inMsg int64
		for i, l := range lines {
			if !bytes.Contains(l, w) {
				continue
			}
			any++
			var m struct {
				Msg string `json:"msg"`
			}
			if err := json.Unmarshal(l, &m); err != nil {
				return fmt.Errorf("decode line %d: %w", i+1, err)
			}
			if strings.Contains(m.Msg, word) {
				inMsg++
			}
		}
		if any != want {
			return fmt.Errorf("needle %q is in %d lines, stats say %d", word, any, want)
		}
		s.MsgNeedles[word] = inMsg
	}
	return nil
}

// readStats loads and sanity-checks a loggen -stats file.
func readStats(path string) (Stats, error) {
	var s Stats
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read stats: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode stats %s: %w", path, err)
	}
	if s.Format != "json" {
		return s, fmt.Errorf("stats %s: format %q, want json (loggen -format json: every record one JSON line)", path, s.Format)
	}
	if s.Records != s.Lines {
		return s, fmt.Errorf("stats %s: %d records on %d lines; need one line per record", path, s.Records, s.Lines)
	}
	if len(s.SampleTraces) == 0 || len(s.Levels) == 0 {
		return s, fmt.Errorf("stats %s: no sample traces or levels", path)
	}
	return s, nil
}

// splitLines returns the non-empty lines of raw (without their newlines).
func splitLines(raw []byte) [][]byte {
	lines := make([][]byte, 0, bytes.Count(raw, []byte{'\n'})+1)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		var l []byte
		if i < 0 {
			l, raw = raw, nil
		} else {
			l, raw = raw[:i], raw[i+1:]
		}
		if len(l) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

// ndjsonBodies groups lines into newline-terminated bodies of about
// maxBytes each (a line is never split).
func ndjsonBodies(lines [][]byte, maxBytes int) [][]byte {
	var out [][]byte
	var cur []byte
	for _, l := range lines {
		if len(cur) > 0 && len(cur)+len(l)+1 > maxBytes {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, l...)
		cur = append(cur, '\n')
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// lineMeta is what a Loki push needs from a loggen JSON line.
type lineMeta struct {
	TS      string `json:"ts"`
	Level   string `json:"level"`
	Service string `json:"service"`
	TraceID string `json:"trace_id"`
}

// lokiBody builds one Loki JSON push request: one stream per service
// (label service), each entry the raw line with structured metadata level
// and, when present, trace_id.
func lokiBody(lines [][]byte) ([]byte, error) {
	type entry struct {
		ts   int64
		line []byte
		meta lineMeta
	}
	streams := map[string][]entry{}
	for i, l := range lines {
		var m lineMeta
		if err := json.Unmarshal(l, &m); err != nil {
			return nil, fmt.Errorf("decode line %d: %w", i+1, err)
		}
		t, err := time.Parse(time.RFC3339Nano, m.TS)
		if err != nil {
			return nil, fmt.Errorf("line %d: parse ts: %w", i+1, err)
		}
		if m.Service == "" {
			return nil, fmt.Errorf("line %d: no service", i+1)
		}
		streams[m.Service] = append(streams[m.Service], entry{t.UnixNano(), l, m})
	}
	names := make([]string, 0, len(streams))
	for n := range streams {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString(`{"streams":[`)
	for si, n := range names {
		if si > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"stream":{"service":`)
		writeJSONString(&b, n)
		b.WriteString(`},"values":[`)
		for ei, e := range streams[n] {
			if ei > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`["`)
			b.WriteString(strconv.FormatInt(e.ts, 10))
			b.WriteString(`",`)
			writeJSONString(&b, string(e.line))
			b.WriteString(`,{"level":`)
			writeJSONString(&b, e.meta.Level)
			if e.meta.TraceID != "" {
				b.WriteString(`,"trace_id":`)
				writeJSONString(&b, e.meta.TraceID)
			}
			b.WriteString(`}]`)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
