package logql_test

// The conformance suite reads testdata/*.test. Format (one directive per line):
//
//	# comment
//	data [tenant=T]              starts a data block (blank line ends it)
//	{app="a", env="p"}           stream header
//	  <secs> [@{k="v"}] <body>   entry: timestamp in seconds, optional structured metadata
//
//	logs start=S end=E [direction=forward|backward] [limit=N] [tenant=T]
//	instant time=T
//	range start=S end=E step=D
//	format                       canonical printer check
//	parse_error                  the query must not parse
//	query <logql>
//	<expected lines>             until a blank line
//
// Expected lines:
//
//	logs:      stream header lines followed by indented "<secs> <line>" entries
//	instant:   "<labels> <value>" per sample (sorted by labels unless "ordered" is
//	           on the header), or "scalar <value>"
//	range:     "<labels> <v1> <v2> ..." with one value per step, "_" if absent
//	format:    the canonical query
//	any kind:  "error <substring>" when evaluation (or parsing) must fail
//
// Times are seconds since the epoch (decimals allowed); steps accept Go
// durations or seconds.

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/memsource"
)

func TestConformance(t *testing.T) {
	files, err := filepath.Glob("testdata/*.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.test files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runTestFile(t, f) })
	}
}

type tfLine struct {
	n    int
	text string
}

func readLines(t *testing.T, path string) []tfLine {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []tfLine
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		out = append(out, tfLine{n: n, text: sc.Text()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func parseSecs(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("parse seconds %q: %w", s, err)
	}
	return int64(math.Round(f * 1e9)), nil
}

func parseStep(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	ns, err := parseSecs(s)
	return time.Duration(ns), err
}

// parseLabelSet parses {a="b", c="d"} (also {}).
func parseLabelSet(s string) (labels.Labels, string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return labels.EmptyLabels(), "", fmt.Errorf("label set must start with '{': %q", s)
	}
	s = s[1:]
	var sb labels.ScratchBuilder
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			sb.Sort()
			return sb.Labels(), s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return labels.EmptyLabels(), "", fmt.Errorf("missing '=' in label set")
		}
		name := strings.TrimSpace(s[:eq])
		q, err := strconv.QuotedPrefix(s[eq+1:])
		if err != nil {
			return labels.EmptyLabels(), "", fmt.Errorf("bad label value: %w", err)
		}
		v, _ := strconv.Unquote(q)
		sb.Add(name, v)
		s = s[eq+1+len(q):]
	}
}

func headerArgs(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			m[f] = ""
			continue
		}
		m[k] = v
	}
	return m
}

func runTestFile(t *testing.T, path string) {
	lines := readLines(t, path)
	lk := newLokiDiff(t, filepath.Base(path))
	src := memsource.New()
	eng, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	next := func() (tfLine, bool) {
		if i >= len(lines) {
			return tfLine{}, false
		}
		l := lines[i]
		i++
		return l, true
	}
	for i < len(lines) {
		l, _ := next()
		text := strings.TrimSpace(l.text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		args := headerArgs(fields[1:])
		where := fmt.Sprintf("%s:%d", filepath.Base(path), l.n)
		switch fields[0] {
		case "data":
			tenant := args["tenant"]
			var stream labels.Labels
			for {
				dl, ok := next()
				if !ok || strings.TrimSpace(dl.text) == "" {
					break
				}
				if strings.HasPrefix(strings.TrimSpace(dl.text), "#") {
					continue
				}
				if strings.HasPrefix(dl.text, "{") {
					stream, _, err = parseLabelSet(dl.text)
					if err != nil {
						t.Fatalf("%s:%d: %v", path, dl.n, err)
					}
					continue
				}
				body := strings.TrimLeft(dl.text, " \t")
				tsStr, rest, _ := strings.Cut(body, " ")
				ts, err := parseSecs(tsStr)
				if err != nil {
					t.Fatalf("%s:%d: %v", path, dl.n, err)
				}
				meta := labels.EmptyLabels()
				if strings.HasPrefix(rest, "@{") {
					meta, rest, err = parseLabelSet(rest[1:])
					if err != nil {
						t.Fatalf("%s:%d: %v", path, dl.n, err)
					}
					rest = strings.TrimPrefix(rest, " ")
				}
				e := logql.Entry{Timestamp: ts, Line: rest, Labels: stream, Metadata: meta}
				src.Add(tenant, e)
				lk.add(tenant, e)
			}
			lk.push(t)
		case "logs", "instant", "range", "format", "parse_error":
			ql, ok := next()
			if !ok || !strings.HasPrefix(ql.text, "query ") {
				t.Fatalf("%s: expected a 'query' line after the header", where)
			}
			q := strings.TrimPrefix(ql.text, "query ")
			var expected []string
			for {
				el, ok := next()
				if !ok || strings.TrimSpace(el.text) == "" {
					break
				}
				if strings.HasPrefix(strings.TrimSpace(el.text), "#") {
					continue
				}
				expected = append(expected, el.text)
			}
			t.Run(fmt.Sprintf("line%d", l.n), func(t *testing.T) {
				runCase(t, eng, fields[0], args, q, expected)
			})
			if lk != nil && (fields[0] == "logs" || fields[0] == "instant" || fields[0] == "range") {
				t.Run(fmt.Sprintf("line%d/loki", l.n), func(t *testing.T) {
					lk.check(t, fields[0], args, q, expected)
				})
			}
		default:
			t.Fatalf("%s: unknown directive %q", where, fields[0])
		}
	}
}

func runCase(t *testing.T, eng *logql.Engine, kind string, args map[string]string, q string, expected []string) {
	t.Helper()
	wantErr := ""
	if len(expected) == 1 && strings.HasPrefix(expected[0], "error") {
		wantErr = strings.TrimSpace(strings.TrimPrefix(expected[0], "error"))
	}
	expr, err := logql.ParseExpr(q)
	if kind == "parse_error" {
		if err == nil {
			t.Fatalf("query %q parsed as %q; want a parse error", q, expr.String())
		}
		if wantErr != "" && !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("query %q: error %q does not contain %q", q, err, wantErr)
		}
		return
	}
	if err != nil {
		if wantErr != "" && strings.Contains(err.Error(), wantErr) {
			return
		}
		t.Fatalf("parse %q: %v", q, err)
	}
	// Every query of the suite must round-trip through the printer.
	printed := expr.String()
	again, err := logql.ParseExpr(printed)
	if err != nil {
		t.Fatalf("re-parse printed form %q of %q: %v", printed, q, err)
	}
	if again.String() != printed {
		t.Fatalf("printer not stable: %q -> %q", printed, again.String())
	}
	if kind == "format" {
		if len(expected) != 1 || printed != expected[0] {
			t.Fatalf("format %q:\n got: %s\nwant: %s", q, printed, strings.Join(expected, "\n"))
		}
		return
	}
	p := logql.Params{Tenant: args["tenant"]}
	sec := func(k string) time.Time {
		ns, err := parseSecs(args[k])
		if err != nil {
			t.Fatalf("header %s: %v", k, err)
		}
		return time.Unix(0, ns)
	}
	switch kind {
	case "logs":
		p.Start, p.End = sec("start"), sec("end")
		if args["direction"] != "" {
			if p.Direction, err = logql.ParseDirection(args["direction"]); err != nil {
				t.Fatal(err)
			}
		}
		if args["limit"] != "" {
			p.Limit, _ = strconv.Atoi(args["limit"])
		}
	case "instant":
		p.Start, p.End = sec("time"), sec("time")
	case "range":
		p.Start, p.End = sec("start"), sec("end")
		if p.Step, err = parseStep(args["step"]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := eng.Eval(context.Background(), expr, p)
	if wantErr != "" {
		if err == nil {
			t.Fatalf("query %q: want error containing %q, got none", q, wantErr)
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("query %q: error %q does not contain %q", q, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	got := renderResult(t, res, p, args)
	want := normalizeExpected(t, kind, expected, args)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("query %q:\n--- got\n%s\n--- want\n%s", q, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func fmtSecs(ns int64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'f', -1, 64)
}

func fmtVal(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	// Round away float noise so expectations stay readable.
	r := math.Round(v*1e9) / 1e9
	if math.IsInf(v, 0) {
		r = v
	}
	return strconv.FormatFloat(r, 'g', 12, 64)
}

func renderResult(t *testing.T, res *logql.Result, p logql.Params, args map[string]string) []string {
	var out []string
	switch res.Type {
	case logql.TypeStreams:
		for _, s := range res.Streams {
			out = append(out, s.Labels.String())
			for _, e := range s.Entries {
				out = append(out, "  "+fmtSecs(e.Timestamp)+" "+e.Line)
			}
		}
	case logql.TypeScalar:
		out = append(out, "scalar "+fmtVal(res.Scalar.V))
	case logql.TypeVector:
		for _, s := range res.Vector {
			if s.T != p.End.UnixNano() {
				t.Fatalf("sample time %d, want %d", s.T, p.End.UnixNano())
			}
			out = append(out, s.Labels.String()+" "+fmtVal(s.V))
		}
		if _, ok := args["ordered"]; !ok {
			sort.Strings(out)
		}
	case logql.TypeMatrix:
		var steps []int64
		for ts := p.Start.UnixNano(); ts <= p.End.UnixNano(); ts += int64(p.Step) {
			steps = append(steps, ts)
		}
		for _, s := range res.Matrix {
			vals := make([]string, len(steps))
			for i := range vals {
				vals[i] = "_"
			}
			for _, pt := range s.Points {
				k := sort.Search(len(steps), func(i int) bool { return steps[i] >= pt.T })
				if k == len(steps) || steps[k] != pt.T {
					t.Fatalf("point at %d is not on a step", pt.T)
				}
				vals[k] = fmtVal(pt.V)
			}
			out = append(out, s.Labels.String()+" "+strings.Join(vals, " "))
		}
		sort.Strings(out)
	}
	return out
}

func normalizeExpected(t *testing.T, kind string, expected []string, args map[string]string) []string {
	var out []string
	for _, e := range expected {
		switch {
		case strings.HasPrefix(e, "{"):
			ls, rest, err := parseLabelSet(e)
			if err != nil {
				t.Fatalf("expected line %q: %v", e, err)
			}
			rest = strings.TrimSpace(rest)
			if rest == "" {
				out = append(out, ls.String())
				continue
			}
			var vals []string
			for _, f := range strings.Fields(rest) {
				if f == "_" {
					vals = append(vals, f)
					continue
				}
				v, err := strconv.ParseFloat(f, 64)
				if err != nil {
					t.Fatalf("expected value %q: %v", f, err)
				}
				vals = append(vals, fmtVal(v))
			}
			out = append(out, ls.String()+" "+strings.Join(vals, " "))
		case strings.HasPrefix(e, "scalar "):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(e, "scalar ")), 64)
			if err != nil {
				t.Fatalf("expected scalar %q: %v", e, err)
			}
			out = append(out, "scalar "+fmtVal(v))
		default:
			body := strings.TrimLeft(e, " \t")
			tsStr, line, _ := strings.Cut(body, " ")
			ns, err := parseSecs(tsStr)
			if err != nil {
				t.Fatalf("expected entry %q: %v", e, err)
			}
			out = append(out, "  "+fmtSecs(ns)+" "+line)
		}
	}
	if kind == "range" {
		sort.Strings(out)
	}
	if _, ok := args["ordered"]; kind == "instant" && !ok {
		sort.Strings(out)
	}
	return out
}
