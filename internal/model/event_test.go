package model

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestValueRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		text string
		num  float64
		isN  bool
	}{
		{"string", StringValue("abc"), "abc", 0, false},
		{"numeric string", StringValue("2.5"), "2.5", 2.5, true},
		{"int", IntValue(-42), "-42", -42, true},
		{"float", FloatValue(1.25), "1.25", 1.25, true},
		{"bool", BoolValue(true), "true", 1, true},
		{"none", Value{}, "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Text(); got != tc.text {
				t.Errorf("Text() = %q, want %q", got, tc.text)
			}
			n, ok := tc.v.Number()
			if ok != tc.isN || (ok && n != tc.num) {
				t.Errorf("Number() = %v, %v; want %v, %v", n, ok, tc.num, tc.isN)
			}
		})
	}
	if FloatValue(math.Inf(1)).Float() != math.Inf(1) {
		t.Error("float bits lost")
	}
}

func TestParseIDs(t *testing.T) {
	id, err := ParseTraceID("0af7651916cd43dd8448eb211c80319c")
	if err != nil || id.String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("ParseTraceID = %v, %v", id, err)
	}
	short, err := ParseTraceID("8448eb211c80319c")
	if err != nil || short.String() != "00000000000000008448eb211c80319c" {
		t.Fatalf("ParseTraceID(short) = %v, %v", short, err)
	}
	for _, bad := range []string{"", "xyz", "0af7651916cd43dd8448eb211c80319c00", "abc"} {
		if _, err := ParseTraceID(bad); err == nil {
			t.Errorf("ParseTraceID(%q) succeeded", bad)
		}
	}
	if _, err := ParseSpanID("00f067aa0ba902b7"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSpanID("00f067aa0ba902"); err == nil {
		t.Error("short span id accepted")
	}
}

func TestFieldAndValidate(t *testing.T) {
	e := Event{
		Tenant: "t", Signal: SignalSpan, Stream: labels.FromStrings("service", "cart"),
		Time: 5, Name: "GET /", Duration: 7, Kind: SpanKindServer,
		Attrs: []Attr{{Key: "http.status", Value: IntValue(500)}},
	}
	if v, ok := e.Field("http.status"); !ok || v.Int() != 500 {
		t.Errorf("attr lookup = %v %v", v, ok)
	}
	if v, ok := e.Field(FieldDuration); !ok || v.Int() != 7 {
		t.Errorf("duration = %v %v", v, ok)
	}
	if _, ok := e.Field(FieldBody); ok {
		t.Error("empty body reported present")
	}
	if _, ok := e.Field("missing"); ok {
		t.Error("missing attr reported present")
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	e.Attrs = append(e.Attrs, Attr{Key: FieldSeverity, Value: StringValue("x")})
	if err := e.Validate(); err == nil {
		t.Error("reserved key accepted")
	}
	e.Attrs = nil
	e.Signal = 0
	if err := e.Validate(); err == nil {
		t.Error("zero signal accepted")
	}
}
