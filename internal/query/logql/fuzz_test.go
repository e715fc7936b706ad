package logql

import (
	"bufio"
	"encoding/json"
	"github.com/grafana/regexp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// seedQueries returns every query of the conformance files.
func seedQueries(f *testing.F) []string {
	files, err := filepath.Glob("testdata/*.test")
	if err != nil {
		f.Fatal(err)
	}
	var out []string
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if q, ok := strings.CutPrefix(sc.Text(), "query "); ok {
				out = append(out, q)
			}
		}
		fh.Close()
	}
	return out
}

// FuzzParse checks that the parser never panics and that the printer is a
// fixed point: print(parse(print(parse(q)))) == print(parse(q)).
func FuzzParse(f *testing.F) {
	for _, q := range seedQueries(f) {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := ParseExpr(q)
		if err != nil {
			return
		}
		s := e.String()
		e2, err := ParseExpr(s)
		if err != nil {
			t.Fatalf("printed form of %q does not parse: %q: %v", q, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("printer not stable for %q:\n%s\n%s", q, s, s2)
		}
	})
}

// FuzzJSONParser checks the json line parser and path extraction never
// panic and never reject an object that encoding/json accepts.
func FuzzJSONParser(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":{"c":"d","e":[1,2,{"f":3}]},"g":null,"h":true}`,
		`{"esc":"a\"b\\c\u00e9\ud83d\ude00","n":-1.5e3}`,
		`{"a":}`, `[1,2]`, `"x"`, `{"a":"b"} trailing`, `{}`, `{"1x":"y","a-b":{"c.d":"z"}}`,
	} {
		f.Add(s, "b.e[2].f")
	}
	f.Fuzz(func(t *testing.T, line, path string) {
		var fl jsonFlattener
		var b labelsBuilder
		b.reset(labels.FromStrings("b", "stream"), labels.EmptyLabels())
		err := fl.parse(line, &b)
		var obj map[string]any
		if json.Unmarshal([]byte(line), &obj) == nil && obj != nil && err != nil && !strings.Contains(err.Error(), "nesting") {
			t.Fatalf("valid object %q rejected: %v", line, err)
		}
		if err == nil {
			for _, l := range b.ls {
				if !isValidLabelName(l.name) {
					t.Fatalf("invalid label name %q from %q", l.name, line)
				}
			}
		}
		if p, err := parseJSONPath(path); err == nil {
			_, _, _ = jsonExtract(line, p)
		}
		var u unpackProc
		b.reset(labels.EmptyLabels(), labels.EmptyLabels())
		u.process(0, line, &b)
	})
}

// FuzzLogfmt checks the logfmt decoder never panics and only yields keys
// that contain no separators.
func FuzzLogfmt(f *testing.F) {
	for _, s := range []string{
		`level=info msg="hello world" status=200`, `a= b c="x\"y" d="unterminated`,
		`=x "q"=1 k="v"junk`, `key=val=ue`, "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, line string, strict bool) {
		_ = scanLogfmt(line, strict, func(kv logfmtPair) {
			if kv.key == "" || strings.ContainsAny(kv.key, " =\"") {
				t.Fatalf("bad key %q from %q", kv.key, line)
			}
		})
		lp := newLogfmtParser(&ParserStage{Kind: ParserLogfmt, Strict: strict, KeepEmpty: true})
		var b labelsBuilder
		b.reset(labels.FromStrings("level", "x"), labels.EmptyLabels())
		lp.process(line, &b)
	})
}

// FuzzPattern checks pattern compilation and matching never panic and that
// captures are substrings of the line.
func FuzzPattern(f *testing.F) {
	f.Add(`<ip> - - [<_>] "<method> <path> <_>" <status>`, `1.2.3.4 - - [x] "GET / HTTP/1.1" 200`)
	f.Add(`<_> error <msg>`, `x error y`)
	f.Add(`<a><b>`, `ab`)
	f.Add(`literal <x`, `literal <x`)
	f.Fuzz(func(t *testing.T, pattern, line string) {
		m, err := compilePattern(pattern, false)
		if err != nil {
			return
		}
		m.match(line, func(name, v string) {
			if !strings.Contains(line, v) {
				t.Fatalf("capture %s=%q not in %q", name, v, line)
			}
		})
	})
}

// FuzzFoldedLiteral checks the case-insensitive literal fast path against
// the regex engine.
func FuzzFoldedLiteral(f *testing.F) {
	f.Add("error", "An ERROR occurred")
	f.Add("(?i)timeout", "read TimeOut")
	f.Add("(?i)ſ", "S")
	f.Fuzz(func(t *testing.T, pat, line string) {
		lit, ok := foldedLiteral("(?i)" + pat)
		if !ok {
			return
		}
		re, err := regexp.Compile("(?s)(?i)" + pat)
		if err != nil {
			return
		}
		if got, want := containsFoldASCII(line, lit), re.MatchString(line); got != want {
			t.Fatalf("pattern %q line %q: fast path %v, regex %v", pat, line, got, want)
		}
	})
}

// FuzzPipeline runs arbitrary log pipelines over arbitrary lines: nothing
// may panic, and resulting labels must be sorted and unique.
func FuzzPipeline(f *testing.F) {
	lines := []string{
		`{"level":"error","status":500,"msg":"boom","req":{"path":"/a"}}`,
		`level=warn msg="slow request" duration=1.5s size=2KB`,
		`10.0.0.1 - - [x] "GET /a HTTP/1.1" 200 512`,
		"\x1b[31mred\x1b[0m plain",
	}
	for i, q := range seedQueries(f) {
		f.Add(q, lines[i%len(lines)])
	}
	f.Fuzz(func(t *testing.T, q, line string) {
		e, err := ParseLogExpr(q)
		if err != nil {
			return
		}
		p, err := NewPipeline(e.Stages)
		if err != nil {
			return
		}
		stream := labels.FromStrings("app", "x", "level", "stream")
		meta := labels.FromStrings("trace_id", "t")
		for i := 0; i < 2; i++ {
			if _, ok := p.Process(int64(i), line, stream, meta); !ok {
				continue
			}
			prev := ""
			p.Labels().Range(func(l labels.Label) {
				if l.Name <= prev && prev != "" {
					t.Fatalf("labels not sorted/unique: %s", p.Labels())
				}
				prev = l.Name
			})
		}
	})
}
