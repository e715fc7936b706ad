package ingest

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// countByDecoder counts the objects and arrays at each depth with
// encoding/json's tokenizer: the reference WalkJSON must agree with on
// valid JSON.
func countByDecoder(t *testing.T, b []byte) (objs, arrs map[int]int) {
	objs, arrs = map[int]int{}, map[int]int{}
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return objs, arrs
		}
		switch tok {
		case json.Delim('{'):
			objs[depth]++
			depth++
		case json.Delim('['):
			arrs[depth]++
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func checkWalk(t *testing.T, b []byte) {
	objs, arrs := countByDecoder(t, b)
	gotObjs, gotArrs := map[int]int{}, map[int]int{}
	WalkJSON(b, func(c byte, d, off int) {
		if b[off] != c {
			t.Fatalf("offset %d holds %q, reported %q", off, b[off], c)
		}
		switch c {
		case '{':
			gotObjs[d]++
		case '[':
			gotArrs[d]++
		}
	})
	for d := range max(len(objs), len(gotObjs)) + 64 {
		if objs[d] != gotObjs[d] || arrs[d] != gotArrs[d] {
			t.Fatalf("%q depth %d: objects %d arrays %d, decoder says %d and %d", b, d, gotObjs[d], gotArrs[d], objs[d], arrs[d])
		}
		if objs[d] != CountJSON(b, '{', d) {
			t.Fatalf("%q: CountJSON objects at %d", b, d)
		}
	}
}

func TestWalkJSON(t *testing.T) {
	for _, s := range []string{
		`[]`, `{}`, `[{},{},{"a":[1,{"b":"}]{["}]}]`,
		`{"streams":[{"stream":{"app":"x"},"values":[["1","a [line]"],["2","b\"]{"]]}]}`,
		`[{"tags":{"k":"v\\"}}, {"s":"\\\\\"[{"}]`,
		`"just a string with [brackets]"`, `  [ [ [ ] ] ]  `,
	} {
		checkWalk(t, []byte(s))
	}
	if n := CountJSON([]byte(`[{"a":{}},{"b":[{}]},{}]`), '{', 1); n != 3 {
		t.Fatalf("top-level objects: %d, want 3", n)
	}
}

// FuzzWalkJSON: on any valid JSON, WalkJSON sees the objects and arrays the
// encoding/json tokenizer sees, at the same depths; on any input it neither
// panics nor reports a byte that is not a bracket.
func FuzzWalkJSON(f *testing.F) {
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"[x]"}}]}]}]}`))
	f.Add([]byte(`[{"traceId":"a","tags":{"k":"\"{"}}]`))
	f.Add([]byte(`{"a":"\`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if json.Valid(b) {
			checkWalk(t, b)
			return
		}
		WalkJSON(b, func(c byte, _, off int) {
			if b[off] != c {
				t.Fatalf("offset %d holds %q, reported %q", off, b[off], c)
			}
		})
	})
}

// BenchmarkCountJSON counts the spans of the OTLP/JSON form of
// benchTraces' request; BenchmarkOTLPTracesDecodeJSON decodes it.
func BenchmarkCountJSON(b *testing.B) {
	body := benchTracesJSON(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if CountJSON(body, '{', 6) < 1000 {
			b.Fatal("spans not counted")
		}
	}
}

func BenchmarkOTLPTracesDecodeJSON(b *testing.B) {
	body := benchTracesJSON(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTracesJSON(b *testing.B) []byte {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(benchTraces(b)); err != nil {
		b.Fatal(err)
	}
	body, err := req.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	return body
}
