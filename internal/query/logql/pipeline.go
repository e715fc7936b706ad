package logql

import (
	"bytes"
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"
)

// stageProc is a compiled pipeline stage. It returns the (possibly
// rewritten) line and whether the line is kept.
type stageProc interface {
	process(ts int64, line string, b *labelsBuilder) (string, bool)
}

// Pipeline runs the stages of a log query on single lines. It is pure (no
// I/O) and reuses internal buffers, so one Pipeline must not be used by two
// goroutines at once.
type Pipeline struct {
	stages []stageProc
	b      labelsBuilder
}

// NewPipeline compiles the stages of a log expression.
func NewPipeline(stages []Stage) (*Pipeline, error) {
	p := &Pipeline{}
	for _, s := range stages {
		sp, err := compileStage(s)
		if err != nil {
			return nil, fmt.Errorf("compile stage %s: %w", s.String(), err)
		}
		p.stages = append(p.stages, sp)
	}
	return p, nil
}

// Process runs all stages on one line with its stream labels and structured
// metadata. It returns the resulting line and false if a stage dropped it.
// The resulting labels are available through Labels until the next call.
func (p *Pipeline) Process(ts int64, line string, stream, meta labels.Labels) (string, bool) {
	p.b.reset(stream, meta)
	for _, s := range p.stages {
		var keep bool
		if line, keep = s.process(ts, line, &p.b); !keep {
			return "", false
		}
	}
	return line, true
}

// Labels returns the labels produced by the last Process call, sorted, with
// the __error__ labels included when set.
func (p *Pipeline) Labels() labels.Labels { return p.b.labels() }

// Label returns one label produced by the last Process call.
func (p *Pipeline) Label(name string) (string, bool) { return p.b.get(name) }

func compileStage(s Stage) (stageProc, error) {
	switch st := s.(type) {
	case *LineFilter:
		return compileLineFilter(st)
	case *ParserStage:
		return compileParser(st)
	case *LabelFilterStage:
		return &labelFilterProc{pred: compilePred(st.Pred)}, nil
	case *LineFormatStage:
		ctx := &templateCtx{}
		t, err := parseTemplateCtx(st.Template, ctx)
		if err != nil {
			return nil, err
		}
		return &lineFormatProc{tmpl: t, ctx: ctx, data: map[string]string{}}, nil
	case *LabelFormatStage:
		lf := &labelFormatProc{ctx: &templateCtx{}, data: map[string]string{}}
		for _, f := range st.Fmts {
			item := labelFmtItem{dst: f.Dst, src: f.Src}
			if f.IsTemplate {
				t, err := parseTemplateCtx(f.Src, lf.ctx)
				if err != nil {
					return nil, err
				}
				item.tmpl = t
			}
			lf.items = append(lf.items, item)
		}
		return lf, nil
	case *DropStage:
		return &dropProc{items: st.Items}, nil
	case *KeepStage:
		return &keepProc{items: st.Items}, nil
	case *DecolorizeStage:
		return decolorizeProc{}, nil
	}
	return nil, fmt.Errorf("unknown stage type %T", s)
}

// ---- line filters ----

type lineFilterProc struct {
	neg      bool
	contains []string
	folded   []string // lower-case ASCII literals matched case-insensitively
	res      []*regexp.Regexp
	pats     []*patternMatcher
	ip       *ipMatcher
}

func compileLineFilter(f *LineFilter) (*lineFilterProc, error) {
	lf := &lineFilterProc{neg: f.Op.Negated()}
	if f.IP {
		m, err := compileIPPattern(f.Values[0])
		if err != nil {
			return nil, err
		}
		lf.ip = m
		return lf, nil
	}
	for _, v := range f.Values {
		switch f.Op {
		case LineContains, LineNotContains:
			lf.contains = append(lf.contains, v)
		case LineRegex, LineNotRegex:
			// Line filter regexes are unanchored and '.' matches newlines.
			re, err := regexp.Compile("(?s)" + v)
			if err != nil {
				return nil, fmt.Errorf("compile line filter regex: %w", err)
			}
			if prefix, complete := re.LiteralPrefix(); complete {
				lf.contains = append(lf.contains, prefix)
				continue
			}
			if lit, ok := foldedLiteral(v); ok {
				lf.folded = append(lf.folded, lit)
				continue
			}
			lf.res = append(lf.res, re)
		case LinePattern, LineNotPattern:
			m, err := compilePattern(v, false)
			if err != nil {
				return nil, fmt.Errorf("compile line filter pattern: %w", err)
			}
			lf.pats = append(lf.pats, m)
		}
	}
	return lf, nil
}

func (f *lineFilterProc) matches(line string) bool {
	if f.ip != nil {
		return f.ip.matchLine(line)
	}
	for _, c := range f.contains {
		if strings.Contains(line, c) {
			return true
		}
	}
	for _, c := range f.folded {
		if containsFoldASCII(line, c) {
			return true
		}
	}
	for _, re := range f.res {
		if re.MatchString(line) {
			return true
		}
	}
	for _, p := range f.pats {
		if p.match(line, nil) {
			return true
		}
	}
	return false
}

func (f *lineFilterProc) process(_ int64, line string, _ *labelsBuilder) (string, bool) {
	return line, f.matches(line) != f.neg
}

// foldedLiteral reports whether re is a case-insensitive ASCII literal such
// as (?i)error, returning it in lower case.
func foldedLiteral(re string) (string, bool) {
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return "", false
	}
	r = r.Simplify()
	if r.Op != syntax.OpLiteral || r.Flags&syntax.FoldCase == 0 || len(r.Rune) == 0 {
		return "", false
	}
	b := make([]byte, 0, len(r.Rune))
	for _, c := range r.Rune {
		if c >= utf8.RuneSelf || c == 'k' || c == 'K' || c == 's' || c == 'S' {
			// Non-ASCII, or letters with Unicode fold partners (K: Kelvin sign,
			// S: long s); leave those to the regex engine.
			return "", false
		}
		b = append(b, byte(unicode.ToLower(c)))
	}
	return string(b), true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// containsFoldASCII reports whether s contains the lower-case ASCII lit,
// ignoring ASCII case.
func containsFoldASCII(s, lit string) bool {
	n := len(lit)
	if n == 0 {
		return true
	}
	first := lit[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if c != first && c != upper {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == lit[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// ---- parsers ----

func compileParser(st *ParserStage) (stageProc, error) {
	switch st.Kind {
	case ParserJSON:
		if len(st.Params) == 0 {
			return &jsonProc{}, nil
		}
		jp := &jsonParamsProc{}
		for _, prm := range st.Params {
			path, err := parseJSONPath(prm.Expr)
			if err != nil {
				return nil, err
			}
			jp.labels = append(jp.labels, sanitizeLabelName(prm.Label))
			jp.paths = append(jp.paths, path)
		}
		return jp, nil
	case ParserLogfmt:
		return &logfmtProc{p: newLogfmtParser(st)}, nil
	case ParserRegexp:
		re, err := regexp.Compile(st.Param)
		if err != nil {
			return nil, fmt.Errorf("compile regexp parser: %w", err)
		}
		return &regexpProc{re: re, names: re.SubexpNames()}, nil
	case ParserPattern:
		m, err := compilePattern(st.Param, true)
		if err != nil {
			return nil, err
		}
		return &patternProc{m: m}, nil
	case ParserUnpack:
		return &unpackProc{}, nil
	}
	return nil, fmt.Errorf("unknown parser %q", st.Kind)
}

type jsonProc struct{ f jsonFlattener }

func (j *jsonProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	if err := j.f.parse(line, b); err != nil {
		b.setErr(errJSON, err.Error())
	}
	return line, true
}

type jsonParamsProc struct {
	labels []string
	paths  [][]pathElem
}

func (j *jsonParamsProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	if i := skipWS(line, 0); i >= len(line) || (line[i] != '{' && line[i] != '[' && line[i] != '"') {
		b.setErr(errJSON, "expected a JSON object")
		return line, true
	}
	for k, path := range j.paths {
		v, _, err := jsonExtract(line, path)
		if err != nil {
			b.setErr(errJSON, err.Error())
			return line, true
		}
		// A path that is absent still yields the label, with an empty value.
		name := j.labels[k]
		if b.baseHas(name) {
			name += extractedSuffix
		}
		b.addParsed(name, v)
	}
	return line, true
}

type logfmtProc struct{ p *logfmtParser }

func (l *logfmtProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	l.p.process(line, b)
	return line, true
}

type regexpProc struct {
	re    *regexp.Regexp
	names []string
}

func (r *regexpProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	m := r.re.FindStringSubmatchIndex(line)
	if m == nil {
		return line, true
	}
	for i, n := range r.names {
		if n == "" {
			continue
		}
		name := n
		if b.baseHas(name) {
			name += extractedSuffix
		}
		v := ""
		if m[2*i] >= 0 {
			v = line[m[2*i]:m[2*i+1]]
		}
		// A named group that took no part in the match yields an empty value.
		b.addParsed(name, v)
	}
	return line, true
}

type patternProc struct {
	m   *patternMatcher
	kvs []string
}

// process extracts captures in order; when a literal is not found matching
// stops and the captures found so far are kept (as the Loki docs describe).
func (p *patternProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	p.kvs = p.kvs[:0]
	p.m.match(line, func(n, v string) { p.kvs = append(p.kvs, n, v) })
	for i := 0; i < len(p.kvs); i += 2 {
		name := p.kvs[i]
		if b.baseHas(name) {
			name += extractedSuffix
		}
		b.addParsed(name, p.kvs[i+1])
	}
	return line, true
}

type unpackProc struct {
	kvs []string
}

// process unpacks a flat JSON object of string values (as written by a
// pack stage): when the object holds _entry, it replaces the line and the
// other string values become labels; otherwise the line is left alone.
func (u *unpackProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	u.kvs = u.kvs[:0]
	packed := false
	s := line
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		b.setErr(errUnpack, "expected a JSON object")
		return line, true
	}
	out := line
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return line, true
	}
	for {
		ks, ke, kesc, next, err := scanString(s, skipWS(s, i))
		if err != nil {
			b.setErr(errUnpack, err.Error())
			return line, true
		}
		key := s[ks:ke]
		if kesc {
			if key, err = unescapeJSON(key); err != nil {
				b.setErr(errUnpack, err.Error())
				return line, true
			}
		}
		i = skipWS(s, next)
		if i >= len(s) || s[i] != ':' {
			b.setErr(errUnpack, fmt.Sprintf("expected ':' at offset %d", i))
			return line, true
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == '"' {
			vs, ve, vesc, nx, err := scanString(s, i)
			if err != nil {
				b.setErr(errUnpack, err.Error())
				return line, true
			}
			v := s[vs:ve]
			if vesc {
				if v, err = unescapeJSON(v); err != nil {
					b.setErr(errUnpack, err.Error())
					return line, true
				}
			}
			if key == "_entry" {
				out, packed = v, true
			} else {
				u.kvs = append(u.kvs, key, v)
			}
			i = nx
		} else if i, err = skipValue(s, i, 0); err != nil {
			b.setErr(errUnpack, err.Error())
			return line, true
		}
		i = skipWS(s, i)
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == '}' {
			if !packed {
				return line, true
			}
			for k := 0; k < len(u.kvs); k += 2 {
				name := sanitizeLabelName(u.kvs[k])
				if b.baseHas(name) {
					name += extractedSuffix
				}
				b.addParsed(name, u.kvs[k+1])
			}
			return out, true
		}
		b.setErr(errUnpack, fmt.Sprintf("unexpected end of object at offset %d", i))
		return line, true
	}
}

// ---- label filters ----

type predFn func(b *labelsBuilder) bool

func compilePred(p LabelPred) predFn {
	switch x := p.(type) {
	case *LabelBinary:
		l, r := compilePred(x.L), compilePred(x.R)
		if x.And {
			return func(b *labelsBuilder) bool { return l(b) && r(b) }
		}
		return func(b *labelsBuilder) bool { return l(b) || r(b) }
	case *LabelMatch:
		m := x.Matcher
		return func(b *labelsBuilder) bool {
			v, _ := b.get(m.Name)
			return m.Matches(v)
		}
	case *LabelCmp:
		return func(b *labelsBuilder) bool { return evalCmp(x, b) }
	case *LabelIP:
		m, err := compileIPPattern(x.Pattern)
		if err != nil {
			return func(*labelsBuilder) bool { return false }
		}
		return func(b *labelsBuilder) bool {
			if b.hasErr() {
				return true // lines in error pass, as in Loki
			}
			v, ok := b.get(x.Name)
			if !ok {
				return false // an absent label never matches, even with !=
			}
			return m.matchLine(v) != x.Neg
		}
	}
	return func(*labelsBuilder) bool { return false }
}

func convertValue(kind ValueKind, v string) (float64, error) {
	switch kind {
	case KindDuration:
		d, err := parseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, err
		}
		return d.Seconds(), nil
	case KindBytes:
		return parseBytes(v)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("parse number %q: %w", v, err)
	}
	return f, nil
}

// evalCmp follows Loki 3: an absent label fails the comparison, also on a
// line already in error; a value that does not convert keeps the line with
// a LabelFilterErr unless an earlier, more telling error is set.
func evalCmp(c *LabelCmp, b *labelsBuilder) bool {
	v, ok := b.get(c.Name)
	if !ok {
		return false
	}
	f, err := convertValue(c.Kind, v)
	if err != nil {
		if !b.hasErr() {
			b.setErr(errLabelFilter, err.Error())
		}
		return true
	}
	switch c.Op {
	case CmpEq:
		return f == c.Value
	case CmpNeq:
		return f != c.Value
	case CmpGt:
		return f > c.Value
	case CmpGte:
		return f >= c.Value
	case CmpLt:
		return f < c.Value
	case CmpLte:
		return f <= c.Value
	}
	return false
}

type labelFilterProc struct{ pred predFn }

func (l *labelFilterProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	return line, l.pred(b)
}

// ---- formatters ----

func fillTemplateData(data map[string]string, b *labelsBuilder) {
	clear(data)
	for i := range b.ls {
		data[b.ls[i].name] = b.ls[i].value
	}
	if b.err != "" {
		data[ErrorLabel] = b.err
	}
	if b.errDetails != "" {
		data[ErrorDetailsLabel] = b.errDetails
	}
}

type lineFormatProc struct {
	tmpl *template.Template
	ctx  *templateCtx
	data map[string]string
	buf  bytes.Buffer
}

func (l *lineFormatProc) process(ts int64, line string, b *labelsBuilder) (string, bool) {
	fillTemplateData(l.data, b)
	l.ctx.line, l.ctx.ts = line, ts
	l.buf.Reset()
	if err := l.tmpl.Execute(&l.buf, l.data); err != nil {
		b.setErr(errTemplate, err.Error())
		return line, true
	}
	return l.buf.String(), true
}

type labelFmtItem struct {
	dst, src string
	tmpl     *template.Template
}

type labelFormatProc struct {
	items []labelFmtItem
	ctx   *templateCtx
	data  map[string]string
	buf   bytes.Buffer
}

func (l *labelFormatProc) process(ts int64, line string, b *labelsBuilder) (string, bool) {
	l.ctx.line, l.ctx.ts = line, ts
	filled := false
	for _, it := range l.items {
		if it.tmpl == nil {
			v, ok := b.get(it.src)
			if !ok {
				continue
			}
			b.del(it.src)
			b.set(it.dst, v, srcParsed)
			continue
		}
		// Templates see the labels as they are after the renames before
		// them in this stage, and not each other's results.
		if !filled {
			fillTemplateData(l.data, b)
			filled = true
		}
		l.buf.Reset()
		if err := it.tmpl.Execute(&l.buf, l.data); err != nil {
			b.setErr(errTemplate, err.Error())
			continue
		}
		b.set(it.dst, l.buf.String(), srcParsed)
	}
	return line, true
}

type dropProc struct{ items []NamedMatch }

func (d *dropProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	for _, it := range d.items {
		if it.Matcher == nil {
			b.del(it.Name)
			continue
		}
		if v, ok := b.get(it.Name); ok && it.Matcher.Matches(v) {
			b.del(it.Name)
		}
	}
	return line, true
}

type keepProc struct{ items []NamedMatch }

func (k *keepProc) keeps(name, value string) bool {
	for _, it := range k.items {
		if it.Name == name && (it.Matcher == nil || it.Matcher.Matches(value)) {
			return true
		}
	}
	return false
}

func (k *keepProc) process(_ int64, line string, b *labelsBuilder) (string, bool) {
	out := b.ls[:0]
	for _, l := range b.ls {
		if k.keeps(l.name, l.value) {
			out = append(out, l)
		}
	}
	b.ls = out
	// keep never removes __error__ and __error_details__; drop does.
	return line, true
}

type decolorizeProc struct{}

func (decolorizeProc) process(_ int64, line string, _ *labelsBuilder) (string, bool) {
	return decolorize(line), true
}

// decolorize removes ANSI escape sequences (CSI sequences such as colours).
func decolorize(s string) string {
	i := strings.IndexByte(s, 0x1b)
	if i < 0 {
		return s
	}
	var out strings.Builder
	out.Grow(len(s))
	out.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c != 0x1b {
			out.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
				j++
			}
			if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
				i = j + 1
				continue
			}
			i = j
			continue
		}
		i++
	}
	return out.String()
}
