package logql

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Expr is any parsed LogQL expression. It is either a *LogExpr (a log query)
// or a SampleExpr (a metric query). String returns the canonical form.
type Expr interface {
	String() string
	isExpr()
}

// SampleExpr is an expression that evaluates to numbers: range and vector
// aggregations, binary operations, literals, vector() and label_replace.
type SampleExpr interface {
	Expr
	isSample()
}

// LogExpr is a stream selector followed by a pipeline of stages.
type LogExpr struct {
	Matchers []*labels.Matcher
	Stages   []Stage
}

func (*LogExpr) isExpr() {}

func (e *LogExpr) String() string {
	var b strings.Builder
	writeSelector(&b, e.Matchers)
	for _, s := range e.Stages {
		b.WriteByte(' ')
		b.WriteString(s.String())
	}
	return b.String()
}

func writeSelector(b *strings.Builder, ms []*labels.Matcher) {
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		writeMatcher(b, m)
	}
	b.WriteByte('}')
}

func writeMatcher(b *strings.Builder, m *labels.Matcher) {
	b.WriteString(m.Name)
	b.WriteString(m.Type.String())
	b.WriteString(strconv.Quote(m.Value))
}

// Stage is one step of a log pipeline.
type Stage interface {
	String() string
	isStage()
}

// LineFilterOp is the operator of a line filter.
type LineFilterOp int

// Line filter operators.
const (
	LineContains    LineFilterOp = iota // |=
	LineNotContains                     // !=
	LineRegex                           // |~
	LineNotRegex                        // !~
	LinePattern                         // |>
	LineNotPattern                      // !>
)

func (o LineFilterOp) String() string {
	switch o {
	case LineContains:
		return "|="
	case LineNotContains:
		return "!="
	case LineRegex:
		return "|~"
	case LineNotRegex:
		return "!~"
	case LinePattern:
		return "|>"
	case LineNotPattern:
		return "!>"
	}
	return "?"
}

// Negated reports whether the operator excludes matching lines.
func (o LineFilterOp) Negated() bool {
	return o == LineNotContains || o == LineNotRegex || o == LineNotPattern
}

// LineFilter is one line filter stage. Values are alternatives joined by
// `or`: a positive filter keeps a line matching any of them, a negated
// filter drops a line matching any of them.
type LineFilter struct {
	Op     LineFilterOp
	Values []string
	IP     bool // Values[0] is an ip("...") pattern (|= and != only)
}

func (*LineFilter) isStage() {}

func (f *LineFilter) String() string {
	var b strings.Builder
	b.WriteString(f.Op.String())
	if f.IP {
		b.WriteString(" ip(")
		b.WriteString(strconv.Quote(f.Values[0]))
		b.WriteByte(')')
		return b.String()
	}
	for i, v := range f.Values {
		if i > 0 {
			b.WriteString(" or")
		}
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(v))
	}
	return b.String()
}

// ParserKind names a line parser.
type ParserKind string

// Parser kinds.
const (
	ParserJSON    ParserKind = "json"
	ParserLogfmt  ParserKind = "logfmt"
	ParserRegexp  ParserKind = "regexp"
	ParserPattern ParserKind = "pattern"
	ParserUnpack  ParserKind = "unpack"
)

// ExtractParam is one `label="expression"` (or bare `label`) parameter of the
// json and logfmt parsers.
type ExtractParam struct {
	Label string
	Expr  string // path for json, key for logfmt; equals Label when written bare
	Bare  bool
}

// ParserStage extracts labels from the line.
type ParserStage struct {
	Kind      ParserKind
	Param     string // regexp or pattern expression
	Params    []ExtractParam
	Strict    bool // logfmt --strict
	KeepEmpty bool // logfmt --keep-empty
}

func (*ParserStage) isStage() {}

func (p *ParserStage) String() string {
	var b strings.Builder
	b.WriteString("| ")
	b.WriteString(string(p.Kind))
	if p.Strict {
		b.WriteString(" --strict")
	}
	if p.KeepEmpty {
		b.WriteString(" --keep-empty")
	}
	if p.Kind == ParserRegexp || p.Kind == ParserPattern {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(p.Param))
	}
	for i, e := range p.Params {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(e.Label)
		if !e.Bare {
			b.WriteByte('=')
			b.WriteString(strconv.Quote(e.Expr))
		}
	}
	return b.String()
}

// LabelFilterStage keeps lines whose labels satisfy Pred.
type LabelFilterStage struct {
	Pred LabelPred
}

func (*LabelFilterStage) isStage() {}

func (s *LabelFilterStage) String() string { return "| " + s.Pred.String() }

// LabelPred is a predicate over labels.
type LabelPred interface {
	String() string
	isPred()
}

// LabelBinary combines two predicates with and/or.
type LabelBinary struct {
	And  bool
	L, R LabelPred
}

func (*LabelBinary) isPred() {}

func (p *LabelBinary) String() string {
	op := " or "
	if p.And {
		op = " and "
	}
	return predOperand(p.L) + op + predOperand(p.R)
}

func predOperand(p LabelPred) string {
	if _, ok := p.(*LabelBinary); ok {
		return "(" + p.String() + ")"
	}
	return p.String()
}

// LabelMatch is a string comparison of a label (=, !=, =~, !~).
type LabelMatch struct {
	Matcher *labels.Matcher
}

func (*LabelMatch) isPred() {}

func (p *LabelMatch) String() string {
	var b strings.Builder
	writeMatcher(&b, p.Matcher)
	return b.String()
}

// LabelIP matches a label holding an IP address against ip("pattern").
type LabelIP struct {
	Name    string
	Neg     bool
	Pattern string
}

func (*LabelIP) isPred() {}

func (p *LabelIP) String() string {
	op := " = "
	if p.Neg {
		op = " != "
	}
	return p.Name + op + "ip(" + strconv.Quote(p.Pattern) + ")"
}

// CmpOp is a numeric comparison operator.
type CmpOp string

// Comparison operators.
const (
	CmpEq  CmpOp = "=="
	CmpNeq CmpOp = "!="
	CmpGt  CmpOp = ">"
	CmpGte CmpOp = ">="
	CmpLt  CmpOp = "<"
	CmpLte CmpOp = "<="
)

// ValueKind says how a label value is converted before a numeric comparison.
type ValueKind int

// Value kinds of numeric label filters.
const (
	KindNumber ValueKind = iota
	KindDuration
	KindBytes
)

// LabelCmp is a numeric, duration or bytes comparison of a label.
type LabelCmp struct {
	Name  string
	Op    CmpOp
	Kind  ValueKind
	Value float64 // number; seconds for durations; bytes for bytes
	Raw   string  // literal as written, used by the printer
}

func (*LabelCmp) isPred() {}

func (p *LabelCmp) String() string { return p.Name + " " + string(p.Op) + " " + p.Raw }

// LineFormatStage rewrites the line with a Go text/template.
type LineFormatStage struct {
	Template string
}

func (*LineFormatStage) isStage() {}

func (s *LineFormatStage) String() string { return "| line_format " + strconv.Quote(s.Template) }

// LabelFmt is one label_format assignment: a rename (Dst=Src) or a template.
type LabelFmt struct {
	Dst        string
	Src        string // label name for renames, template text otherwise
	IsTemplate bool
}

// LabelFormatStage renames labels or sets them from templates.
type LabelFormatStage struct {
	Fmts []LabelFmt
}

func (*LabelFormatStage) isStage() {}

func (s *LabelFormatStage) String() string {
	var b strings.Builder
	b.WriteString("| label_format ")
	for i, f := range s.Fmts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Dst)
		b.WriteByte('=')
		if f.IsTemplate {
			b.WriteString(strconv.Quote(f.Src))
		} else {
			b.WriteString(f.Src)
		}
	}
	return b.String()
}

// NamedMatch is an item of drop and keep: a bare name, or a matcher that
// restricts the item to labels with matching values.
type NamedMatch struct {
	Name    string
	Matcher *labels.Matcher // nil for a bare name
}

func writeNamedMatches(b *strings.Builder, items []NamedMatch) {
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		if it.Matcher != nil {
			writeMatcher(b, it.Matcher)
		} else {
			b.WriteString(it.Name)
		}
	}
}

// DropStage removes labels.
type DropStage struct{ Items []NamedMatch }

func (*DropStage) isStage() {}

func (s *DropStage) String() string {
	var b strings.Builder
	b.WriteString("| drop ")
	writeNamedMatches(&b, s.Items)
	return b.String()
}

// KeepStage keeps only the listed labels.
type KeepStage struct{ Items []NamedMatch }

func (*KeepStage) isStage() {}

func (s *KeepStage) String() string {
	var b strings.Builder
	b.WriteString("| keep ")
	writeNamedMatches(&b, s.Items)
	return b.String()
}

// DecolorizeStage strips ANSI colour sequences from the line.
type DecolorizeStage struct{}

func (*DecolorizeStage) isStage() {}

func (*DecolorizeStage) String() string { return "| decolorize" }

// Unwrap selects the label whose value becomes the sample value.
type Unwrap struct {
	Label string
	Conv  string // "", "duration", "duration_seconds" or "bytes"
	Post  []*LabelFilterStage
}

func (u *Unwrap) String() string {
	var b strings.Builder
	b.WriteString("| unwrap ")
	if u.Conv != "" {
		b.WriteString(u.Conv)
		b.WriteByte('(')
		b.WriteString(u.Label)
		b.WriteByte(')')
	} else {
		b.WriteString(u.Label)
	}
	for _, p := range u.Post {
		b.WriteByte(' ')
		b.WriteString(p.String())
	}
	return b.String()
}

// LogRange is a log query over a sliding window: `{..} | stages [5m] offset 1h`.
type LogRange struct {
	Log      *LogExpr
	Interval time.Duration
	Offset   time.Duration
	Unwrap   *Unwrap
}

func (r *LogRange) String() string {
	var b strings.Builder
	b.WriteString(r.Log.String())
	if r.Unwrap != nil {
		b.WriteByte(' ')
		b.WriteString(r.Unwrap.String())
	}
	if len(r.Log.Stages) > 0 || r.Unwrap != nil {
		b.WriteByte(' ')
	}
	b.WriteByte('[')
	b.WriteString(formatDuration(r.Interval))
	b.WriteByte(']')
	if r.Offset != 0 {
		b.WriteString(" offset ")
		b.WriteString(formatDuration(r.Offset))
	}
	return b.String()
}

// Grouping is a by/without clause.
type Grouping struct {
	Without bool
	Labels  []string
}

func (g *Grouping) String() string {
	kw := "by"
	if g.Without {
		kw = "without"
	}
	return kw + " (" + strings.Join(g.Labels, ", ") + ")"
}

// RangeAgg applies a function to each series' samples in a window.
type RangeAgg struct {
	Op       string // count_over_time, rate, ..., quantile_over_time
	Param    float64
	HasParam bool
	Range    *LogRange
	Grouping *Grouping
}

func (*RangeAgg) isExpr()   {}
func (*RangeAgg) isSample() {}

func (e *RangeAgg) String() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteByte('(')
	if e.HasParam {
		b.WriteString(formatFloat(e.Param))
		b.WriteString(", ")
	}
	b.WriteString(e.Range.String())
	b.WriteByte(')')
	if e.Grouping != nil {
		b.WriteByte(' ')
		b.WriteString(e.Grouping.String())
	}
	return b.String()
}

// VectorAgg aggregates a vector across series.
type VectorAgg struct {
	Op       string // sum, avg, min, max, count, stddev, stdvar, topk, bottomk, sort, sort_desc
	Param    int    // k for topk and bottomk
	Grouping *Grouping
	Inner    SampleExpr
}

func (*VectorAgg) isExpr()   {}
func (*VectorAgg) isSample() {}

func (e *VectorAgg) String() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Grouping != nil {
		b.WriteByte(' ')
		b.WriteString(e.Grouping.String())
		b.WriteByte(' ')
	}
	b.WriteByte('(')
	if e.Op == "topk" || e.Op == "bottomk" {
		b.WriteString(strconv.Itoa(e.Param))
		b.WriteString(", ")
	}
	b.WriteString(e.Inner.String())
	b.WriteByte(')')
	return b.String()
}

// VectorMatching describes on/ignoring and group_left/group_right.
type VectorMatching struct {
	On        bool
	Labels    []string
	Card      string // "", "group_left" or "group_right"
	Include   []string
	HasLabels bool // on()/ignoring() written explicitly
}

// BinOp is a binary operation.
type BinOp struct {
	Op         string // + - * / % ^ == != > >= < <= and or unless
	LHS, RHS   SampleExpr
	ReturnBool bool
	Matching   *VectorMatching
}

func (*BinOp) isExpr()   {}
func (*BinOp) isSample() {}

func (e *BinOp) String() string {
	var b strings.Builder
	b.WriteString(binOperand(e.LHS))
	b.WriteByte(' ')
	b.WriteString(e.Op)
	if e.ReturnBool {
		b.WriteString(" bool")
	}
	if m := e.Matching; m != nil {
		if m.HasLabels {
			if m.On {
				b.WriteString(" on (")
			} else {
				b.WriteString(" ignoring (")
			}
			b.WriteString(strings.Join(m.Labels, ", "))
			b.WriteByte(')')
		}
		if m.Card != "" {
			b.WriteByte(' ')
			b.WriteString(m.Card)
			b.WriteString(" (")
			b.WriteString(strings.Join(m.Include, ", "))
			b.WriteByte(')')
		}
	}
	b.WriteByte(' ')
	b.WriteString(binOperand(e.RHS))
	return b.String()
}

func binOperand(e SampleExpr) string {
	switch x := e.(type) {
	case *BinOp:
		return "(" + e.String() + ")"
	case *Literal:
		if x.Value < 0 || math.Signbit(x.Value) {
			return "(" + e.String() + ")"
		}
	}
	return e.String()
}

// Literal is a number.
type Literal struct{ Value float64 }

func (*Literal) isExpr()   {}
func (*Literal) isSample() {}

func (e *Literal) String() string { return formatFloat(e.Value) }

// VectorLit is vector(n): a single series without labels.
type VectorLit struct{ Value float64 }

func (*VectorLit) isExpr()   {}
func (*VectorLit) isSample() {}

func (e *VectorLit) String() string { return "vector(" + formatFloat(e.Value) + ")" }

// LabelReplace is label_replace(v, dst, replacement, src, regex).
type LabelReplace struct {
	Inner                 SampleExpr
	Dst, Replacement, Src string
	Regex                 string
}

func (*LabelReplace) isExpr()   {}
func (*LabelReplace) isSample() {}

func (e *LabelReplace) String() string {
	return "label_replace(" + e.Inner.String() + ", " + strconv.Quote(e.Dst) + ", " +
		strconv.Quote(e.Replacement) + ", " + strconv.Quote(e.Src) + ", " + strconv.Quote(e.Regex) + ")"
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) > 21 {
		s = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return s
}

func formatDuration(d time.Duration) string {
	if d%time.Millisecond == 0 && d > 0 {
		return model.Duration(d).String()
	}
	return d.String()
}

// Selectors returns the stream matchers of every log selector in e, in the
// order they appear (useful for series lookups, limits and tenant checks).
func Selectors(e Expr) [][]*labels.Matcher {
	var out [][]*labels.Matcher
	var walk func(Expr)
	walk = func(e Expr) {
		switch x := e.(type) {
		case *LogExpr:
			out = append(out, x.Matchers)
		case *RangeAgg:
			out = append(out, x.Range.Log.Matchers)
		case *VectorAgg:
			walk(x.Inner)
		case *BinOp:
			walk(x.LHS)
			walk(x.RHS)
		case *LabelReplace:
			walk(x.Inner)
		}
	}
	walk(e)
	return out
}
