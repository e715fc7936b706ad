package logql

import (
	"fmt"
	"math"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"
)

// Range aggregation operators over log lines (no unwrap).
var logRangeOps = map[string]bool{
	"count_over_time": true, "rate": true, "bytes_over_time": true,
	"bytes_rate": true, "absent_over_time": true,
}

// Range aggregation operators over unwrapped values.
var unwrapRangeOps = map[string]bool{
	"rate": true, "rate_counter": true, "sum_over_time": true, "avg_over_time": true,
	"min_over_time": true, "max_over_time": true, "stddev_over_time": true,
	"stdvar_over_time": true, "quantile_over_time": true, "first_over_time": true,
	"last_over_time": true, "absent_over_time": true,
}

// Unwrapped range operators that accept by/without.
var groupableRangeOps = map[string]bool{
	"avg_over_time": true, "stddev_over_time": true, "stdvar_over_time": true,
	"quantile_over_time": true, "max_over_time": true, "min_over_time": true,
	"first_over_time": true, "last_over_time": true,
}

var stageKeywords = map[string]bool{
	"json": true, "logfmt": true, "regexp": true, "pattern": true, "unpack": true,
	"line_format": true, "label_format": true, "drop": true, "keep": true,
	"decolorize": true, "unwrap": true,
}

var vectorAggOps = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "stddev": true,
	"stdvar": true, "topk": true, "bottomk": true, "sort": true, "sort_desc": true,
}

var binPrec = map[tokKind]int{
	tAdd: 4, tSub: 4, tMul: 5, tDiv: 5, tMod: 5, tPow: 6,
	tCmpEq: 3, tNeq: 3, tGt: 3, tGte: 3, tLt: 3, tLte: 3,
}

var setOpPrec = map[string]int{"or": 1, "and": 2, "unless": 2}

// MaxQueryLength bounds the size of a query accepted by the parser.
const MaxQueryLength = 128 << 10

type parser struct {
	input string
	toks  []token
	p     int
}

// ParseExpr parses a LogQL query: a log query or a metric query.
func ParseExpr(input string) (Expr, error) {
	if len(input) > MaxQueryLength {
		return nil, &ParseError{Line: 1, Col: 1, Msg: fmt.Sprintf("query is %d bytes, longer than the limit of %d", len(input), MaxQueryLength)}
	}
	toks, err := lex(input)
	if err != nil {
		return nil, err
	}
	p := &parser{input: input, toks: toks}
	var e Expr
	if p.peek().kind == tLBrace {
		e, _, err = p.parseLogExpr(false)
	} else {
		e, err = p.parseBinExpr(0)
	}
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %s", t.describe())
	}
	return e, nil
}

// ParseLogExpr parses a log query; metric queries are an error.
func ParseLogExpr(input string) (*LogExpr, error) {
	e, err := ParseExpr(input)
	if err != nil {
		return nil, err
	}
	le, ok := e.(*LogExpr)
	if !ok {
		return nil, &ParseError{Line: 1, Col: 1, Msg: "expected a log query, got a metric query"}
	}
	return le, nil
}

// ParseMatchers parses a stream selector such as {app="x", env=~"prod|dev"}.
func ParseMatchers(input string) ([]*labels.Matcher, error) {
	toks, err := lex(input)
	if err != nil {
		return nil, err
	}
	p := &parser{input: input, toks: toks}
	ms, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %s after selector", t.describe())
	}
	return ms, nil
}

func (p *parser) peek() token { return p.toks[p.p] }

func (p *parser) peekAt(n int) token {
	if p.p+n < len(p.toks) {
		return p.toks[p.p+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.p]
	if t.kind != tEOF {
		p.p++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return newParseError(p.input, t.pos, format, args...)
}

func (p *parser) expect(k tokKind, context string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.errAt(t, "expected %q %s, got %s", tokNames[k], context, t.describe())
	}
	return t, nil
}

func (p *parser) isIdent(text string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == text
}

// ---- metric expressions ----

func (p *parser) parseBinExpr(minPrec int) (SampleExpr, error) {
	lhs, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, op := 0, ""
		if t.kind == tIdent {
			prec, op = setOpPrec[t.text], t.text
		} else if pr, ok := binPrec[t.kind]; ok {
			prec, op = pr, tokNames[t.kind]
		}
		if prec == 0 || prec < minPrec {
			return lhs, nil
		}
		p.next()
		bin := &BinOp{Op: op, LHS: lhs}
		if isComparison(op) && p.isIdent("bool") {
			p.next()
			bin.ReturnBool = true
		}
		if err := p.parseMatching(bin); err != nil {
			return nil, err
		}
		next := prec + 1
		if op == "^" {
			next = prec // right associative
		}
		rhs, err := p.parseBinExpr(next)
		if err != nil {
			return nil, err
		}
		bin.RHS = rhs
		if err := validateBinOp(bin); err != nil {
			return nil, p.errAt(t, "%v", err)
		}
		lhs = bin
	}
}

func isComparison(op string) bool {
	switch op {
	case "==", "!=", ">", ">=", "<", "<=":
		return true
	}
	return false
}

func isSetOp(op string) bool { return op == "and" || op == "or" || op == "unless" }

func validateBinOp(b *BinOp) error {
	_, lLit := b.LHS.(*Literal)
	_, rLit := b.RHS.(*Literal)
	if isSetOp(b.Op) && (lLit || rLit) {
		return fmt.Errorf("set operator %q not allowed between scalars", b.Op)
	}
	if isComparison(b.Op) && lLit && rLit && !b.ReturnBool {
		return fmt.Errorf("comparisons between scalars must use the bool modifier")
	}
	if b.Matching != nil && (lLit || rLit) {
		return fmt.Errorf("vector matching only allowed between vectors")
	}
	if b.Matching != nil && b.Matching.Card != "" && isSetOp(b.Op) {
		return fmt.Errorf("no grouping allowed for %q operation", b.Op)
	}
	return nil
}

func (p *parser) parseMatching(b *BinOp) error {
	var m *VectorMatching
	if p.isIdent("on") || p.isIdent("ignoring") {
		m = &VectorMatching{On: p.next().text == "on", HasLabels: true}
		ls, err := p.parseLabelList()
		if err != nil {
			return err
		}
		m.Labels = ls
	}
	if p.isIdent("group_left") || p.isIdent("group_right") {
		if m == nil {
			m = &VectorMatching{}
		}
		m.Card = p.next().text
		if p.peek().kind == tLParen {
			ls, err := p.parseLabelList()
			if err != nil {
				return err
			}
			m.Include = ls
		}
	}
	b.Matching = m
	return nil
}

func (p *parser) parseLabelList() ([]string, error) {
	if _, err := p.expect(tLParen, "to open the label list"); err != nil {
		return nil, err
	}
	ls := []string{}
	for p.peek().kind != tRParen {
		t, err := p.expect(tIdent, "in label list")
		if err != nil {
			return nil, err
		}
		ls = append(ls, t.text)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		if p.peek().kind != tRParen {
			t := p.peek()
			return nil, p.errAt(t, "expected \",\" or \")\" in label list, got %s", t.describe())
		}
	}
	p.next()
	return ls, nil
}

func (p *parser) parseUnary() (SampleExpr, error) {
	t := p.peek()
	if t.kind == tSub || t.kind == tAdd {
		p.next()
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if t.kind == tAdd {
			return e, nil
		}
		if lit, ok := e.(*Literal); ok {
			return &Literal{Value: -lit.Value}, nil
		}
		return &BinOp{Op: "*", LHS: &Literal{Value: -1}, RHS: e}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parseNumberArg(context string) (float64, error) {
	neg := false
	if p.peek().kind == tSub {
		p.next()
		neg = true
	} else if p.peek().kind == tAdd {
		p.next()
	}
	t := p.next()
	var v float64
	switch {
	case t.kind == tNumber:
		v = t.num
	case t.kind == tIdent && (t.text == "Inf" || t.text == "inf"):
		v = math.Inf(1)
	case t.kind == tIdent && (t.text == "NaN" || t.text == "nan"):
		v = math.NaN()
	default:
		return 0, p.errAt(t, "expected a number %s, got %s", context, t.describe())
	}
	if neg {
		v = -v
	}
	return v, nil
}

func (p *parser) parsePrimary() (SampleExpr, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		return &Literal{Value: t.num}, nil
	case tLParen:
		p.next()
		e, err := p.parseBinExpr(0)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "to close the parenthesis"); err != nil {
			return nil, err
		}
		return e, nil
	case tLBrace:
		return nil, p.errAt(t, "a log query cannot be used here; wrap it in a range aggregation such as count_over_time({...}[5m])")
	case tIdent:
		switch {
		case logRangeOps[t.text] || unwrapRangeOps[t.text]:
			return p.parseRangeAgg()
		case vectorAggOps[t.text]:
			return p.parseVectorAgg()
		case t.text == "vector":
			p.next()
			if _, err := p.expect(tLParen, "after vector"); err != nil {
				return nil, err
			}
			v, err := p.parseNumberArg("in vector()")
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(tRParen, "to close vector()"); err != nil {
				return nil, err
			}
			return &VectorLit{Value: v}, nil
		case t.text == "label_replace":
			return p.parseLabelReplace()
		case t.text == "Inf" || t.text == "NaN" || t.text == "inf" || t.text == "nan":
			v, err := p.parseNumberArg("")
			if err != nil {
				return nil, err
			}
			return &Literal{Value: v}, nil
		}
		return nil, p.errAt(t, "unknown function or keyword %q", t.text)
	}
	return nil, p.errAt(t, "unexpected %s", t.describe())
}

func (p *parser) parseLabelReplace() (SampleExpr, error) {
	p.next()
	if _, err := p.expect(tLParen, "after label_replace"); err != nil {
		return nil, err
	}
	inner, err := p.parseBinExpr(0)
	if err != nil {
		return nil, err
	}
	var args [4]string
	for i := range args {
		if _, err := p.expect(tComma, "between label_replace arguments"); err != nil {
			return nil, err
		}
		t, err := p.expect(tString, "as label_replace argument")
		if err != nil {
			return nil, err
		}
		args[i] = t.text
	}
	rp, err := p.expect(tRParen, "to close label_replace")
	if err != nil {
		return nil, err
	}
	if _, err := regexp.Compile("^(?s:" + args[3] + ")$"); err != nil {
		return nil, p.errAt(rp, "invalid regex in label_replace: %v", err)
	}
	if !isValidLabelName(args[0]) {
		return nil, p.errAt(rp, "invalid destination label name in label_replace: %q", args[0])
	}
	return &LabelReplace{Inner: inner, Dst: args[0], Replacement: args[1], Src: args[2], Regex: args[3]}, nil
}

func isValidLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentChar(s[i]) || (i == 0 && isDigit(s[0])) {
			return false
		}
	}
	return true
}

func (p *parser) parseGrouping() (*Grouping, error) {
	t := p.next()
	ls, err := p.parseLabelList()
	if err != nil {
		return nil, err
	}
	return &Grouping{Without: t.text == "without", Labels: ls}, nil
}

func (p *parser) atGrouping() bool { return p.isIdent("by") || p.isIdent("without") }

func (p *parser) parseVectorAgg() (SampleExpr, error) {
	opTok := p.next()
	e := &VectorAgg{Op: opTok.text}
	var err error
	if p.atGrouping() {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect(tLParen, "after "+e.Op); err != nil {
		return nil, err
	}
	if e.Op == "topk" || e.Op == "bottomk" {
		t := p.next()
		if t.kind != tNumber || t.num != math.Trunc(t.num) || t.num < 1 || t.num > math.MaxInt32 {
			return nil, p.errAt(t, "%s needs a positive integer parameter, got %s", e.Op, t.describe())
		}
		e.Param = int(t.num)
		if _, err := p.expect(tComma, "after the "+e.Op+" parameter"); err != nil {
			return nil, err
		}
	}
	if e.Inner, err = p.parseBinExpr(0); err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, "to close "+e.Op); err != nil {
		return nil, err
	}
	if e.Grouping == nil && p.atGrouping() {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if (e.Op == "sort" || e.Op == "sort_desc") && e.Grouping != nil {
		return nil, p.errAt(opTok, "%s does not accept by or without", e.Op)
	}
	if _, ok := e.Inner.(*Literal); ok {
		return nil, p.errAt(opTok, "%s needs a vector argument, got a number", e.Op)
	}
	return e, nil
}

func (p *parser) parseRangeAgg() (SampleExpr, error) {
	opTok := p.next()
	e := &RangeAgg{Op: opTok.text}
	if _, err := p.expect(tLParen, "after "+e.Op); err != nil {
		return nil, err
	}
	if e.Op == "quantile_over_time" {
		v, err := p.parseNumberArg("as the quantile")
		if err != nil {
			return nil, err
		}
		e.Param, e.HasParam = v, true
		if _, err := p.expect(tComma, "after the quantile"); err != nil {
			return nil, err
		}
	}
	if p.peek().kind != tLBrace {
		t := p.peek()
		return nil, p.errAt(t, "%s expects a log range such as {app=\"x\"}[5m], got %s", e.Op, t.describe())
	}
	_, lr, err := p.parseLogExpr(true)
	if err != nil {
		return nil, err
	}
	e.Range = lr
	if _, err := p.expect(tRParen, "to close "+e.Op); err != nil {
		return nil, err
	}
	if p.atGrouping() {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	switch {
	case e.Range.Unwrap == nil && !logRangeOps[e.Op]:
		return nil, p.errAt(opTok, "%s needs an unwrap expression such as | unwrap latency", e.Op)
	case e.Range.Unwrap != nil && !unwrapRangeOps[e.Op]:
		return nil, p.errAt(opTok, "%s cannot be used with unwrap", e.Op)
	case e.Grouping != nil && !(e.Range.Unwrap != nil && groupableRangeOps[e.Op]):
		return nil, p.errAt(opTok, "grouping is not allowed for %s", e.Op)
	}
	return e, nil
}

// ---- log expressions ----

// parseLogExpr parses a selector and pipeline; with inRange it parses a
// log range and returns *LogRange, otherwise *LogExpr.
func (p *parser) parseLogExpr(inRange bool) (*LogExpr, *LogRange, error) {
	ms, err := p.parseSelector()
	if err != nil {
		return nil, nil, err
	}
	le := &LogExpr{Matchers: ms}
	var r *LogRange
	if inRange {
		r = &LogRange{Log: le}
		if p.peek().kind == tLBracket {
			if err := p.parseRangeSuffix(r); err != nil {
				return nil, nil, err
			}
		}
	}
	unwrap, err := p.parseStages(le, inRange)
	if err != nil {
		return nil, nil, err
	}
	if !inRange {
		return le, nil, nil
	}
	r.Unwrap = unwrap
	if r.Interval == 0 {
		if p.peek().kind != tLBracket {
			t := p.peek()
			return nil, nil, p.errAt(t, "expected a range such as [5m], got %s", t.describe())
		}
		if err := p.parseRangeSuffix(r); err != nil {
			return nil, nil, err
		}
	}
	return le, r, nil
}

func (p *parser) parseRangeSuffix(r *LogRange) error {
	p.next()
	t := p.next()
	if t.kind != tDuration || t.dur <= 0 {
		return p.errAt(t, "expected a positive duration in the range, got %s", t.describe())
	}
	r.Interval = t.dur
	if _, err := p.expect(tRBracket, "to close the range"); err != nil {
		return err
	}
	if p.isIdent("offset") {
		p.next()
		t := p.next()
		if t.kind != tDuration || t.dur <= 0 {
			return p.errAt(t, "expected a positive duration after offset, got %s", t.describe())
		}
		r.Offset = t.dur
	}
	return nil
}

func (p *parser) parseSelector() ([]*labels.Matcher, error) {
	open, err := p.expect(tLBrace, "to open the stream selector")
	if err != nil {
		return nil, err
	}
	var ms []*labels.Matcher
	for p.peek().kind != tRBrace {
		m, err := p.parseMatcher()
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		if t := p.peek(); t.kind != tRBrace {
			return nil, p.errAt(t, "expected \",\" or \"}\" in stream selector, got %s", t.describe())
		}
	}
	p.next()
	ok := false
	for _, m := range ms {
		if !m.Matches("") {
			ok = true
			break
		}
	}
	if !ok {
		return nil, p.errAt(open, "queries require at least one regexp or equality matcher that does not match the empty string; for instance app=~\".*\" does not qualify but app=~\".+\" does")
	}
	return ms, nil
}

func matchTypeOf(k tokKind) (labels.MatchType, bool) {
	switch k {
	case tEq:
		return labels.MatchEqual, true
	case tNeq:
		return labels.MatchNotEqual, true
	case tRe:
		return labels.MatchRegexp, true
	case tNre:
		return labels.MatchNotRegexp, true
	}
	return 0, false
}

func (p *parser) parseMatcher() (*labels.Matcher, error) {
	name, err := p.expect(tIdent, "as label name")
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	mt, ok := matchTypeOf(opTok.kind)
	if !ok {
		return nil, p.errAt(opTok, "expected a matcher operator (=, !=, =~, !~) after %q, got %s", name.text, opTok.describe())
	}
	val, err := p.expect(tString, "as label value")
	if err != nil {
		return nil, err
	}
	m, err := labels.NewMatcher(mt, name.text, val.text)
	if err != nil {
		return nil, p.errAt(val, "invalid matcher: %v", err)
	}
	return m, nil
}

func lineFilterOp(k tokKind) (LineFilterOp, bool) {
	switch k {
	case tPipeEq:
		return LineContains, true
	case tNeq:
		return LineNotContains, true
	case tPipeRe:
		return LineRegex, true
	case tNre:
		return LineNotRegex, true
	case tPipePt:
		return LinePattern, true
	case tNPt:
		return LineNotPattern, true
	}
	return 0, false
}

// parseStages parses pipeline stages into le. When allowUnwrap is set it
// also accepts a final unwrap followed by label filters.
func (p *parser) parseStages(le *LogExpr, allowUnwrap bool) (*Unwrap, error) {
	for {
		t := p.peek()
		if op, ok := lineFilterOp(t.kind); ok {
			p.next()
			f, err := p.parseLineFilter(op)
			if err != nil {
				return nil, err
			}
			le.Stages = append(le.Stages, f)
			continue
		}
		if t.kind != tPipe {
			return nil, nil
		}
		p.next()
		kw := p.peek()
		if kw.kind == tIdent && kw.text == "unwrap" && allowUnwrap {
			return p.parseUnwrap()
		}
		st, err := p.parseStage()
		if err != nil {
			return nil, err
		}
		le.Stages = append(le.Stages, st)
	}
}

func (p *parser) parseIPArg() (string, error) {
	p.next() // ip
	p.next() // (
	s, err := p.expect(tString, "as ip() pattern")
	if err != nil {
		return "", err
	}
	if _, err := compileIPPattern(s.text); err != nil {
		return "", p.errAt(s, "%v", err)
	}
	if _, err := p.expect(tRParen, "to close ip()"); err != nil {
		return "", err
	}
	return s.text, nil
}

func (p *parser) atIP() bool { return p.isIdent("ip") && p.peekAt(1).kind == tLParen }

func (p *parser) parseLineFilter(op LineFilterOp) (*LineFilter, error) {
	f := &LineFilter{Op: op}
	if p.atIP() {
		if op != LineContains && op != LineNotContains {
			return nil, p.errAt(p.peek(), "ip() is only allowed with |= and !=")
		}
		v, err := p.parseIPArg()
		if err != nil {
			return nil, err
		}
		f.Values, f.IP = []string{v}, true
		return f, nil
	}
	for {
		t, err := p.expect(tString, "after line filter "+op.String())
		if err != nil {
			return nil, err
		}
		switch op {
		case LineRegex, LineNotRegex:
			if _, err := regexp.Compile(t.text); err != nil {
				return nil, p.errAt(t, "invalid regex in line filter: %v", err)
			}
		case LinePattern, LineNotPattern:
			if _, err := compilePattern(t.text, false); err != nil {
				return nil, p.errAt(t, "invalid pattern in line filter: %v", err)
			}
		}
		f.Values = append(f.Values, t.text)
		if p.isIdent("or") && p.peekAt(1).kind == tString {
			p.next()
			continue
		}
		return f, nil
	}
}

func (p *parser) parseStage() (Stage, error) {
	t := p.peek()
	if t.kind == tIdent {
		switch t.text {
		case "json", "logfmt", "regexp", "pattern", "unpack":
			if !p.isComparisonAhead() {
				return p.parseParser()
			}
		case "line_format":
			if !p.isComparisonAhead() {
				p.next()
				s, err := p.expect(tString, "after line_format")
				if err != nil {
					return nil, err
				}
				if _, err := parseTemplate(s.text); err != nil {
					return nil, p.errAt(s, "invalid line_format template: %v", err)
				}
				return &LineFormatStage{Template: s.text}, nil
			}
		case "label_format":
			if !p.isComparisonAhead() {
				return p.parseLabelFormat()
			}
		case "drop", "keep":
			if !p.isComparisonAhead() {
				return p.parseDropKeep()
			}
		case "decolorize":
			if !p.isComparisonAhead() {
				p.next()
				return &DecolorizeStage{}, nil
			}
		case "unwrap":
			return nil, p.errAt(t, "unwrap is only allowed inside a range aggregation")
		}
	}
	pred, err := p.parseLabelOr()
	if err != nil {
		return nil, err
	}
	return &LabelFilterStage{Pred: pred}, nil
}

// isComparisonAhead reports whether the identifier at the cursor is the
// left side of a label filter (e.g. `| json > 1` filters a label named json).
func (p *parser) isComparisonAhead() bool {
	return isLabelCmpOp(p.peekAt(1).kind)
}

func (p *parser) parseParser() (Stage, error) {
	t := p.next()
	st := &ParserStage{Kind: ParserKind(t.text)}
	switch st.Kind {
	case ParserRegexp, ParserPattern:
		s, err := p.expect(tString, "after "+t.text)
		if err != nil {
			return nil, err
		}
		st.Param = s.text
		if st.Kind == ParserRegexp {
			re, err := regexp.Compile(s.text)
			if err != nil {
				return nil, p.errAt(s, "invalid regexp parser expression: %v", err)
			}
			named := false
			for _, n := range re.SubexpNames() {
				if n != "" {
					if !isValidLabelName(n) {
						return nil, p.errAt(s, "invalid capture group name %q", n)
					}
					named = true
				}
			}
			if !named {
				return nil, p.errAt(s, "regexp parser expression needs at least one named capture group")
			}
		} else if _, err := compilePattern(s.text, true); err != nil {
			return nil, p.errAt(s, "invalid pattern parser expression: %v", err)
		}
		return st, nil
	case ParserLogfmt:
		for p.peek().kind == tFlag {
			f := p.next()
			switch f.text {
			case "--strict":
				st.Strict = true
			case "--keep-empty":
				st.KeepEmpty = true
			default:
				return nil, p.errAt(f, "unknown logfmt flag %q (want --strict or --keep-empty)", f.text)
			}
		}
	}
	if st.Kind == ParserJSON || st.Kind == ParserLogfmt {
		for p.peek().kind == tIdent {
			name := p.next()
			prm := ExtractParam{Label: name.text, Expr: name.text, Bare: true}
			if p.peek().kind == tEq {
				p.next()
				v, err := p.expect(tString, "as "+t.text+" parameter expression")
				if err != nil {
					return nil, err
				}
				prm.Expr, prm.Bare = v.text, false
				if st.Kind == ParserJSON {
					if _, err := parseJSONPath(v.text); err != nil {
						return nil, p.errAt(v, "invalid json path: %v", err)
					}
				}
			}
			st.Params = append(st.Params, prm)
			if p.peek().kind != tComma {
				break
			}
			p.next()
			if p.peek().kind != tIdent {
				t := p.peek()
				return nil, p.errAt(t, "expected a parameter after \",\", got %s", t.describe())
			}
		}
	}
	return st, nil
}

func isStageStart(k tokKind) bool {
	_, ok := lineFilterOp(k)
	return ok || k == tPipe
}

func (p *parser) parseLabelFormat() (Stage, error) {
	p.next() // label_format
	st := &LabelFormatStage{}
	seen := map[string]bool{}
	for {
		dst, err := p.expect(tIdent, "as label_format destination")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tEq, "in label_format"); err != nil {
			return nil, err
		}
		src := p.next()
		f := LabelFmt{Dst: dst.text}
		switch src.kind {
		case tIdent:
			f.Src = src.text
		case tString:
			if _, err := parseTemplate(src.text); err != nil {
				return nil, p.errAt(src, "invalid label_format template: %v", err)
			}
			f.Src, f.IsTemplate = src.text, true
		default:
			return nil, p.errAt(src, "expected a label name or template string in label_format, got %s", src.describe())
		}
		if seen[f.Dst] {
			return nil, p.errAt(dst, "label %q appears more than once in label_format", f.Dst)
		}
		if f.Dst == ErrorLabel {
			return nil, p.errAt(dst, "%s cannot be set by label_format", ErrorLabel)
		}
		seen[f.Dst] = true
		st.Fmts = append(st.Fmts, f)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	return st, nil
}

func (p *parser) parseDropKeep() (Stage, error) {
	kw := p.next()
	var items []NamedMatch
	for {
		name, err := p.expect(tIdent, "as label name in "+kw.text)
		if err != nil {
			return nil, err
		}
		it := NamedMatch{Name: name.text}
		if mt, ok := matchTypeOf(p.peek().kind); ok {
			p.next()
			v, err := p.expect(tString, "as label value in "+kw.text)
			if err != nil {
				return nil, err
			}
			m, err := labels.NewMatcher(mt, name.text, v.text)
			if err != nil {
				return nil, p.errAt(v, "invalid matcher: %v", err)
			}
			it.Matcher = m
		}
		items = append(items, it)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if kw.text == "drop" {
		return &DropStage{Items: items}, nil
	}
	return &KeepStage{Items: items}, nil
}

func (p *parser) parseUnwrap() (*Unwrap, error) {
	p.next() // unwrap
	u := &Unwrap{}
	t, err := p.expect(tIdent, "after unwrap")
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tLParen {
		switch t.text {
		case "duration", "duration_seconds", "bytes":
		default:
			return nil, p.errAt(t, "unknown unwrap conversion %q (want duration, duration_seconds or bytes)", t.text)
		}
		p.next()
		l, err := p.expect(tIdent, "as the label to unwrap")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "to close the conversion"); err != nil {
			return nil, err
		}
		u.Conv, u.Label = t.text, l.text
	} else {
		u.Label = t.text
	}
	for p.peek().kind == tPipe {
		p.next()
		if t := p.peek(); t.kind == tIdent && stageKeywords[t.text] && !p.isComparisonAhead() {
			return nil, p.errAt(t, "only label filters may follow unwrap, got %s", t.text)
		}
		pred, err := p.parseLabelOr()
		if err != nil {
			return nil, err
		}
		u.Post = append(u.Post, &LabelFilterStage{Pred: pred})
	}
	if t := p.peek(); isStageStart(t.kind) {
		return nil, p.errAt(t, "only label filters may follow unwrap")
	}
	return u, nil
}

// parseLabelOr parses predicates joined by and/or. As the Loki docs say,
// and binds tighter than or ("a or b and c" is "a or (b and c)"); a comma
// or plain juxtaposition means and. Both associate to the left.
func (p *parser) parseLabelOr() (LabelPred, error) {
	l, err := p.parseLabelAnd()
	if err != nil {
		return nil, err
	}
	for p.isIdent("or") {
		p.next()
		r, err := p.parseLabelAnd()
		if err != nil {
			return nil, err
		}
		l = &LabelBinary{And: false, L: l, R: r}
	}
	return l, nil
}

func (p *parser) parseLabelAnd() (LabelPred, error) {
	l, err := p.parseLabelAtom()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isIdent("and"), p.peek().kind == tComma:
			p.next()
		case (p.peek().kind == tIdent && isLabelCmpOp(p.peekAt(1).kind)) || p.peek().kind == tLParen:
			// juxtaposed predicates are joined with and
		default:
			return l, nil
		}
		r, err := p.parseLabelAtom()
		if err != nil {
			return nil, err
		}
		l = &LabelBinary{And: true, L: l, R: r}
	}
}

func isLabelCmpOp(k tokKind) bool {
	switch k {
	case tEq, tNeq, tRe, tNre, tGt, tGte, tLt, tLte, tCmpEq:
		return true
	}
	return false
}

func (p *parser) parseLabelAtom() (LabelPred, error) {
	if p.peek().kind == tLParen {
		p.next()
		in, err := p.parseLabelOr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "to close the label filter group"); err != nil {
			return nil, err
		}
		return in, nil
	}
	name, err := p.expect(tIdent, "as label filter, parser or formatter")
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	if !isLabelCmpOp(opTok.kind) {
		return nil, p.errAt(opTok, "expected a comparison operator after label %q, got %s", name.text, opTok.describe())
	}
	if p.atIP() {
		if opTok.kind != tEq && opTok.kind != tNeq {
			return nil, p.errAt(opTok, "ip() label filters only allow = and !=")
		}
		v, err := p.parseIPArg()
		if err != nil {
			return nil, err
		}
		return &LabelIP{Name: name.text, Neg: opTok.kind == tNeq, Pattern: v}, nil
	}
	if p.peek().kind == tString {
		v := p.next()
		mt, ok := matchTypeOf(opTok.kind)
		if opTok.kind == tCmpEq {
			mt, ok = labels.MatchEqual, true // "==" on strings is equality
		}
		if !ok {
			return nil, p.errAt(opTok, "operator %q needs a number, duration or bytes value", tokNames[opTok.kind])
		}
		m, err := labels.NewMatcher(mt, name.text, v.text)
		if err != nil {
			return nil, p.errAt(v, "invalid matcher: %v", err)
		}
		return &LabelMatch{Matcher: m}, nil
	}
	if opTok.kind == tRe || opTok.kind == tNre {
		t := p.peek()
		return nil, p.errAt(t, "regex operator needs a string, got %s", t.describe())
	}
	neg := ""
	if p.peek().kind == tSub {
		p.next()
		neg = "-"
	}
	v := p.next()
	c := &LabelCmp{Name: name.text, Raw: neg + v.text, Value: v.num}
	switch v.kind {
	case tNumber:
		c.Kind = KindNumber
	case tDuration:
		c.Kind = KindDuration
	case tBytes:
		c.Kind = KindBytes
	default:
		return nil, p.errAt(v, "expected a string, number, duration or bytes value, got %s", v.describe())
	}
	if neg != "" {
		c.Value = -c.Value
	}
	switch opTok.kind {
	case tEq, tCmpEq:
		c.Op = CmpEq
	case tNeq:
		c.Op = CmpNeq
	case tGt:
		c.Op = CmpGt
	case tGte:
		c.Op = CmpGte
	case tLt:
		c.Op = CmpLt
	case tLte:
		c.Op = CmpLte
	}
	return c, nil
}
