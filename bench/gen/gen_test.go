package gen

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
)

var t0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func TestDeterministicAndNeedles(t *testing.T) {
	const n = 100_000
	a, b := New(1, t0, time.Millisecond), New(1, t0, time.Millisecond)
	counts := map[string]int{}
	var total int
	for range n {
		ra, rb := a.Next(), b.Next()
		if !bytes.Equal(ra.Line, rb.Line) {
			t.Fatal("same seed, different records")
		}
		total += len(ra.Line)
		for _, nd := range Needles {
			if bytes.Contains(ra.Line, []byte("note="+nd.Word)) {
				counts[nd.Word]++
			}
		}
	}
	for _, nd := range Needles {
		if want := NeedleCount(nd, n, a); counts[nd.Word] != want {
			t.Errorf("needle %s: %d occurrences, want %d", nd.Word, counts[nd.Word], want)
		}
	}
	if counts["jackdaw"] != 200 || counts["xanthic"] != 20 {
		t.Errorf("needle counts %v", counts)
	}
	avg := total / n
	t.Logf("average record %d bytes", avg)
	if avg < 200 || avg > 600 {
		t.Errorf("average record size %d outside 200..600", avg)
	}
}

func TestParse(t *testing.T) {
	g := New(2, t0, time.Millisecond)
	p := NewParser()
	seen := map[string]bool{}
	for range 2000 {
		rec := g.Next()
		var e model.Event
		if err := p.Parse(rec, &e); err != nil {
			t.Fatalf("parse %q: %v", rec.Line, err)
		}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		if e.TraceID != rec.TraceID {
			t.Fatalf("trace id lost in %q", rec.Line)
		}
		if e.Body == "" || e.Severity == "" {
			t.Fatalf("no body/severity from %q: %+v", rec.Line, e)
		}
		switch {
		case rec.Line[0] == '{':
			seen["json"] = true
			if v, ok := e.Field("http.status"); !ok || v.Type != model.TypeInt {
				t.Fatalf("json http.status = %v %v", v, ok)
			}
		case strings.HasPrefix(string(rec.Line), "ts="):
			seen["logfmt"] = true
			if v, ok := e.Field("amount"); !ok || v.Type != model.TypeFloat {
				t.Fatalf("logfmt amount = %v %v", v, ok)
			}
		default:
			seen["text"] = true
		}
	}
	if len(seen) != 3 {
		t.Fatalf("styles seen %v", seen)
	}
}
