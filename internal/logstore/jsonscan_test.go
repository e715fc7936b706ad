package logstore

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// diffSchemas are the schemas the differential checks run under.
func diffSchemas(t testing.TB) []*Schema {
	sl := append(DefaultStreamLabels(), StreamLabel{"a.b", "ab"}, StreamLabel{"a.b", "ab2"})
	var out []*Schema
	for _, o := range []Options{
		{StreamLabels: sl},
		{StreamLabels: sl, MaxFields: 6, MaxDepth: 2, MaxValueBytes: 12, MaxFieldNameBytes: 8},
	} {
		s, err := NewSchema(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func diffMappings() []JSONMapping {
	return []JSONMapping{
		DefaultJSONMapping(),
		{
			MessageFields: []string{"log", "a.msg"},
			TimeFields:    []string{"a.t", "ts"},
			StreamFields:  []StreamLabel{{"k.n", "kn"}, {"x", "x"}, {"a.b.c", "abc"}},
		},
	}
}

// checkSame converts b through ParseJSONObject+FromJSON and through
// FromJSONBytes and reports any difference.
func checkSame(t testing.TB, s *Schema, jm JSONMapping, b []byte) {
	t.Helper()
	var want model.Event
	m, wantErr := ParseJSONObject(b)
	if wantErr == nil {
		want, wantErr = s.FromJSON("t", m, jm, 7)
	}
	got, gotErr := s.FromJSONBytes("t", b, jm, 7)
	if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
		t.Fatalf("%q: error %v, want %v", b, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !labels.Equal(got.Stream, want.Stream) {
		t.Fatalf("%q: stream %v, want %v", b, got.Stream, want.Stream)
	}
	got.Stream, want.Stream = labels.EmptyLabels(), labels.EmptyLabels()
	if len(got.Attrs) == 0 && len(want.Attrs) == 0 {
		got.Attrs, want.Attrs = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
	}
}

func TestFromJSONBytesMatchesFromJSON(t *testing.T) {
	docs := []string{
		`{}`,
		` {"a":1} `,
		`{"a":1}}`, // json.Decoder.More treats a trailing '}' as no more data
		`{"a":1}]`,
		`{"a":1} x`,
		`{"a":1} {}`,
		`null`,
		`[1]`,
		`"x"`,
		``,
		`{`,
		`{"a":}`,
		`{"a":1,}`,
		`{"a" 1}`,
		`{"a":01}`,
		`{"a":-}`,
		`{"a":1.}`,
		`{"a":1e}`,
		`{"a":tru}`,
		"{\"a\":\"x\ty\"}",
		`{"a":"\x"}`,
		`{"a":"\ud800"}`,
		`{"a":"\u00e9\n\"q\""}`,
		"{\"a\":\"\xff\xfe ok\"}",
		"{\"\xff\":1}",
		`{"a\u0062":1,"ab":2}`,
		`{"a":1,"a":"two","a":{"b":3}}`,
		`{"a":{"b":1},"a":null}`,
		`{"n":1,"f":1.5,"e":1e3,"big":123456789012345678901234,"inf":1e400,"neg":-0,"t":true,"f2":false,"z":null}`,
		`{"arr":[1,"<a&b>",{"y":2,"x":[true,null]},1.50],"empty":[],"eo":{}}`,
		`{"a":{"b":{"c":{"d":{"e":1}}}},"a_b":2}`,
		`{"_time":"2024-05-01T10:00:00.123Z","message":"hello","level":"warn","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}`,
		`{"ts":1714557600123,"msg":{"nested":"<b>","k":[1]},"service":{"name":"api"},"k8s":{"namespace":{"name":"prod"}}}`,
		`{"ts":true}`,
		`{"ts":null}`,
		`{"ts":{"x":1}}`,
		`{"ts":[1]}`,
		`{"ts":"yesterday"}`,
		`{"_time":"1714557600.5","log":12.50}`,
		`{"log":true,"a":{"t":1714557600,"msg":"in a","b":{"c":42}},"x":"y","k.n":7}`,
		`{"a":{"t":1714557600,"msg":"m","z":"\u2028"},"log":null,"_msg":{"a":1}}`,
		`{"service.name":"s1","service":{"name":"s2"},"name":"intrinsic","level":5,"_msg":"m"}`,
		`{"a.b":{"c":"dot"},"a":{"b.c":"x"},"x":1.0}`,
		`{"1":"x","é":"y","a-b":"z","":"empty"}`,
		`{"long_field_name_over_eight":"a value longer than twelve bytes","f1":1,"f2":2,"f3":3,"f4":4,"f5":5,"f6":6,"f7":7}`,
	}
	for _, s := range diffSchemas(t) {
		for _, jm := range diffMappings() {
			for _, d := range docs {
				checkSame(t, s, jm, []byte(d))
			}
		}
	}
}

func TestFromJSONBytesErrorsAreClear(t *testing.T) {
	s := mustSchema(t)
	for _, tc := range []struct{ in, want string }{
		{`{"a":`, "parse JSON object: unexpected EOF"},
		{`null`, "parse JSON object: got null, want an object"},
		{`{"a":1} x`, "parse JSON object: data after the object"},
		{`{"ts":true}`, `field "ts": time must be a string or number, got bool`},
	} {
		_, err := s.FromJSONBytes("", []byte(tc.in), DefaultJSONMapping(), 0)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.in, err, tc.want)
		}
	}
}

// FuzzFromJSONBytes checks the scanner path against the encoding/json path.
func FuzzFromJSONBytes(f *testing.F) {
	f.Add([]byte(`{"a":{"b":{"c":{"d":1}}},"level":"warn","trace_id":"0af7651916cd43dd8448eb211c80319c","n":1e400,"x":[1,{"y":2}],"_msg":"m","name":"n"}`))
	f.Add([]byte(`{"":"","9":null,"é.ü":true,"a":1,"a":"b"}`))
	f.Add([]byte(`{"log":true,"a":{"t":1714557600,"msg":"in a","b":{"c":42}},"x":"y","k.n":7,"s":"\u00e9\\"}`))
	f.Add(benchDoc(1))
	schemas := diffSchemas(f)
	mappings := diffMappings()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range schemas {
			for _, jm := range mappings {
				checkSame(t, s, jm, b)
			}
		}
	})
}

func benchDoc(i int) []byte {
	return fmt.Appendf(nil, `{"_time":"%s","service.name":"svc%d","level":"info","message":"GET /api/v1/items/%d served in %dms for user u%d from 10.0.%d.%d","http":{"status":%d,"method":"GET","route":"/api/v1/items/:id"},"trace_id":"%032x","span_id":"%016x","pod":"svc-%d-abcde"}`,
		base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i%5, i, i%300, i%1000, i%256, i%200, 200+i%3*100, i*7919, i*104729, i%20)
}

// BenchmarkJSONDoc compares the encoding/json path (path=map) with the
// scanner (path=scan) on the ~310-byte documents of BenchmarkIngestJSON;
// one op is one document. Compare with benchstat -col /path.
func BenchmarkJSONDoc(b *testing.B) {
	s, _ := NewSchema(Options{})
	docs := make([][]byte, 1000)
	var n int64
	for i := range docs {
		docs[i] = benchDoc(i)
		n += int64(len(docs[i]))
	}
	jm := DefaultJSONMapping()
	for _, path := range []string{"map", "scan"} {
		b.Run("path="+path, func(b *testing.B) {
			b.SetBytes(n / int64(len(docs)))
			b.ReportAllocs()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				d := docs[i%len(docs)]
				i++
				var err error
				if path == "map" {
					var m map[string]any
					if m, err = ParseJSONObject(d); err == nil {
						_, err = s.FromJSON("", m, jm, 0)
					}
				} else {
					_, err = s.FromJSONBytes("", d, jm, 0)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			// CPU time (user+sys, all threads incl. GC) per document: the
			// machine is shared, so wall time per op is not a fair figure.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestScannerTakesCommonDocuments makes sure the differential tests above
// exercise the scanner, not only its encoding/json fallback.
func TestScannerTakesCommonDocuments(t *testing.T) {
	var p jsonScanner
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{string(benchDoc(3)), true},
		{`{"a":[1,{"b":"\u00e9"}],"c":{"d":null},"e":-1.5e-3}`, true},
		{`{"a":1}}`, true},
		{`{"a":1} x`, false},
		{`{"a":"\x"}`, false},
		{`[]`, false},
	} {
		if got := p.parse(tc.in); got != tc.ok {
			t.Errorf("%s: scanner took it = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

// TestDottedStreamKeysFirstListedWins: two dotted keys naming one label
// give the same label on every row (it used to follow map order).
func TestDottedStreamKeysFirstListedWins(t *testing.T) {
	s := mustSchema(t)
	doc := []byte(`{"deployment":{"environment":"prod","environment.name":"staging"}}`)
	for range 20 {
		for _, path := range []string{"map", "scan"} {
			var ev model.Event
			var err error
			if path == "map" {
				var m map[string]any
				if m, err = ParseJSONObject(doc); err == nil {
					ev, err = s.FromJSON("", m, DefaultJSONMapping(), 0)
				}
			} else {
				ev, err = s.FromJSONBytes("", doc, DefaultJSONMapping(), 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.Stream.Get("env"); got != "prod" {
				t.Fatalf("%s: env=%q, want prod (deployment.environment is listed first)", path, got)
			}
		}
	}
}

// TestPlainRun checks the eight-bytes-at-a-time scan against a byte loop
// with every special byte at every position of strings of 0..40 bytes.
func TestPlainRun(t *testing.T) {
	naive := func(s string, j int) int {
		for ; j < len(s); j++ {
			if c := s[j]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return j
			}
		}
		return j
	}
	for n := range 41 {
		base := make([]byte, n)
		for i := range base {
			base[i] = "abc XYZ{}:,019!~_"[i%17]
		}
		if got, want := plainRun(string(base), 0), naive(string(base), 0); got != want {
			t.Fatalf("len %d plain: %d, want %d", n, got, want)
		}
		for pos := range n {
			for _, c := range []byte{'"', '\\', 0, 0x1f, '\n', 0x80, 0xc3, 0xff, 0x20, 0x21, 0x7f, '#', '[', ']'} {
				b := append([]byte(nil), base...)
				b[pos] = c
				for start := 0; start <= n; start += 3 {
					if got, want := plainRun(string(b), start), naive(string(b), start); got != want {
						t.Fatalf("%q from %d: %d, want %d", b, start, got, want)
					}
				}
			}
		}
	}
}

// TestRootShapesReused parses documents of more shapes than the scanner
// keeps, round and round (shapes found again, evicted and found anew,
// with duplicate keys), and checks every row, its stream labels included,
// against the encoding/json path.
func TestRootShapesReused(t *testing.T) {
	shapes := []string{
		`{"ts":"2026-11-24T19:32:00.%06dZ","level":"info","service":"cart","msg":"m%d","a":1}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","level":"warn","service":"pay","host":"h","msg":"m%d"}`,
		`{"msg":"m%[2]d","service":"cart","ts":"2026-11-24T19:32:00.%06[1]dZ","z":{"y":2,"x":1}}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","k":1,"k":"two","msg":"m%d","service":"cart"}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","msg":"m%d","b":true,"service":"auth","a":null}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","msg":"m%d","c":"x","service":"auth"}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","msg":"m%d","d":"x"}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","msg":"m%d","e":"x","service":"cart"}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","msg":"m%d","f":"x","service":"cart","g":[1]}`,
		`{"ts":"2026-11-24T19:32:00.%06dZ","msg":"m%d","h":"\u00e9"}`,
	}
	if len(shapes) <= maxShapes {
		t.Fatalf("%d shapes do not exceed the %d kept", len(shapes), maxShapes)
	}
	jm := JSONMapping{TimeFields: []string{"ts"}, MessageFields: []string{"msg"}, StreamFields: []StreamLabel{{From: "service", To: "service"}}}
	for _, s := range diffSchemas(t) {
		for i := range 300 {
			k := i % len(shapes)
			if i >= 150 {
				k = i * 7 % len(shapes) // another order
			}
			checkSame(t, s, jm, fmt.Appendf(nil, shapes[k], i, i))
		}
	}
}

// TestAppendJSONLines checks a body's rows against FromJSONBytes line by
// line (blank lines, rows without attributes, rows with more attributes
// than a slab's free room, documents on the encoding/json path), that
// growing one row's attributes leaves the others alone, and that errors
// name their line.
func TestAppendJSONLines(t *testing.T) {
	s := mustSchema(t)
	jm := DefaultJSONMapping()
	var lines []string
	for i := range 400 {
		switch {
		case i%50 == 7:
			lines = append(lines, "", "   ")
		case i%60 == 9:
			lines = append(lines, `{"message":"only a message"}`)
		case i%70 == 11:
			var b strings.Builder
			b.WriteString(`{"message":"wide"`)
			for k := range 150 {
				fmt.Fprintf(&b, `,"f%03d":%d`, k, k)
			}
			b.WriteString("}")
			lines = append(lines, b.String())
		case i%90 == 13:
			lines = append(lines, `{"message":"esc \u00e9","deep":`+strings.Repeat(`{"a":`, 1100)+"1"+strings.Repeat("}", 1100)+"}")
		default:
			lines = append(lines, fmt.Sprintf(`{"_time":"2026-11-24T19:32:00.%06dZ","service.name":"svc%d","level":"info","message":"line %d","n":%d,"s":"v%d"}`, i, i%3, i, i, i))
		}
	}
	body := strings.Join(lines, "\n")
	rows, err := s.AppendJSONLines(nil, "t", body, jm, 7)
	if err != nil {
		t.Fatal(err)
	}
	var want []model.Event
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ev, err := s.FromJSONBytes("t", []byte(l), jm, 7)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range rows {
		rows[i].Attrs = append(rows[i].Attrs, model.Attr{Key: "extra", Value: model.IntValue(int64(i))})
	}
	for i := range rows {
		got := rows[i]
		got.Attrs = got.Attrs[:len(got.Attrs)-1]
		if len(got.Attrs) == 0 {
			got.Attrs = nil
		}
		if !reflect.DeepEqual(got, want[i]) || rows[i].Attrs[len(rows[i].Attrs)-1].Value.Int() != int64(i) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
	_, err = s.AppendJSONLines(nil, "t", "{\"a\":1}\n\n{\"a\":", jm, 7)
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: ") {
		t.Fatalf("error %v, want one naming line 3", err)
	}
}

// TestParseRFC3339UTC compares the fast timestamp parser with time.Parse
// on valid and invalid dates, edge fractions and other forms.
func TestParseRFC3339UTC(t *testing.T) {
	cases := []string{
		"1970-01-01T00:00:00Z", "2026-11-24T19:32:00.000000Z", "2026-11-24T19:32:00.1Z",
		"2026-11-24T19:32:00.123456789Z", "2026-11-24T19:32:00.1234567891Z", "2024-02-29T23:59:59.5Z",
		"2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T12:00:00Z", "2026-04-31T00:00:00Z",
		"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z",
		"2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z", "2026-01-01T23:59:59.Z", "2026-01-01T23:59:59,5Z",
		"2026-01-01t23:59:59Z", "2026-01-01T23:59:59z", "2026-01-01T23:59:59+02:00", "2026-1-01T23:59:59Z",
		"2026-01-01T23:59:59.12a4Z", "1969-12-31T23:59:59Z", "2199-12-31T23:59:59.999999999Z", "2200-01-01T00:00:00Z",
		"+026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z", "2026-01-01T00:00:0-Z",
	}
	for y := 1970; y < 2200; y += 7 {
		for m := 1; m <= 12; m++ {
			cases = append(cases, fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, 1+(y+m)%31, (y*m)%24, y%60, m*5%60, y%1000))
		}
	}
	for _, c := range cases {
		got, ok := parseRFC3339UTC(c)
		want, err := time.Parse(time.RFC3339Nano, c)
		if ok && (err != nil || got != want.UnixNano()) {
			t.Errorf("%q: fast %d, time.Parse %d (%v)", c, got, want.UnixNano(), err)
		}
		if !ok && err == nil && len(c) >= 20 && c[len(c)-1] == 'Z' && want.Year() >= 1970 && want.Year() < 2200 && len(c) <= 30 && !strings.ContainsAny(c, "tz") {
			t.Errorf("%q: fast path refused a plain UTC time", c)
		}
	}
}

func FuzzParseRFC3339UTC(f *testing.F) {
	f.Add("2026-11-24T19:32:00.123456Z")
	f.Add("2024-02-29T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339UTC(s)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || got != want.UnixNano() {
			t.Fatalf("%q: fast %d, time.Parse %d (%v)", s, got, want.UnixNano(), err)
		}
	})
}

// BenchmarkParseTimeText parses loggen's timestamp form; "cpu-ns/op" is
// process CPU per timestamp (the machine is shared).
func BenchmarkParseTimeText(b *testing.B) {
	ts := make([]string, 1024)
	for i := range ts {
		ts[i] = time.Date(2026, 11, 24, 19, 32, 0, i*3_600_000, time.UTC).Format("2006-01-02T15:04:05.000000Z")
	}
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		if _, err := parseTimeText(ts[i%len(ts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
