package logql

import (
	"context"
	"fmt"
	"regexp/syntax"

	"github.com/prometheus/prometheus/model/labels"
)

// Direction orders log entries by time.
type Direction int

// Directions. Backward (newest first) is Loki's default.
const (
	Backward Direction = iota
	Forward
)

func (d Direction) String() string {
	if d == Forward {
		return "forward"
	}
	return "backward"
}

// ParseDirection parses "forward" or "backward" (case-insensitive, "" is backward).
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "", "backward", "BACKWARD", "Backward":
		return Backward, nil
	case "forward", "FORWARD", "Forward":
		return Forward, nil
	}
	return Backward, fmt.Errorf("parse direction: %q is neither forward nor backward", s)
}

// Entry is one stored log line as a Source returns it.
type Entry struct {
	Timestamp int64         // unix nanoseconds
	Line      string        // log body
	Labels    labels.Labels // stream labels
	Metadata  labels.Labels // structured metadata (may be empty)
}

// Iterator walks entries returned by a Source. At is valid until the next
// call to Next; its strings may be retained by the engine.
type Iterator interface {
	Next() bool
	At() Entry
	Err() error
	Close() error
}

// OrderedIterator is an optional capability of an Iterator: when Ordered
// reports true, entries arrive in the requested Direction (by timestamp), so
// a log query can stop reading as soon as it holds Limit entries.
type OrderedIterator interface {
	Iterator
	Ordered() bool
}

// LineFilterHint is a line filter a store may evaluate itself (for instance
// with token blooms or by scanning a body column) before handing entries to
// the engine. A hint keeps a line when any of Values matches it (contains
// for LineContains, unanchored RE2 regex for LineRegex); the negated
// operators keep a line when none of Values matches. Only the four
// operators |=, !=, |~ and !~ appear in hints.
type LineFilterHint struct {
	Op     LineFilterOp
	Values []string
}

// RequiredSubstrings returns substrings every line passing the hint must
// contain, suitable for bloom-filter pruning. It returns nil when nothing
// is required (negated hints, alternatives, or regexes without literals).
func (h LineFilterHint) RequiredSubstrings() []string {
	if h.Op.Negated() || len(h.Values) != 1 {
		return nil
	}
	v := h.Values[0]
	switch h.Op {
	case LineContains:
		if v == "" {
			return nil
		}
		return []string{v}
	case LineRegex:
		return regexLiterals(v)
	}
	return nil
}

// regexLiterals returns case-sensitive literals that any match of re contains.
func regexLiterals(re string) []string {
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return nil
	}
	r = r.Simplify()
	var out []string
	lit := func(x *syntax.Regexp) {
		if x.Op == syntax.OpLiteral && x.Flags&syntax.FoldCase == 0 && len(x.Rune) > 0 {
			out = append(out, string(x.Rune))
		}
	}
	switch r.Op {
	case syntax.OpLiteral:
		lit(r)
	case syntax.OpConcat:
		for _, sub := range r.Sub {
			lit(sub)
			if sub.Op == syntax.OpCapture && len(sub.Sub) == 1 {
				lit(sub.Sub[0])
			}
		}
	case syntax.OpCapture:
		if len(r.Sub) == 1 {
			lit(r.Sub[0])
		}
	}
	return out
}

// LineMatcher evaluates a conjunction of hints on a line; stores use it to
// apply hints exactly after pruning with RequiredSubstrings.
type LineMatcher struct {
	procs []*lineFilterProc
}

// NewLineMatcher compiles hints.
func NewLineMatcher(hints []LineFilterHint) (*LineMatcher, error) {
	m := &LineMatcher{}
	for _, h := range hints {
		p, err := compileLineFilter(&LineFilter{Op: h.Op, Values: h.Values})
		if err != nil {
			return nil, fmt.Errorf("compile hint: %w", err)
		}
		m.procs = append(m.procs, p)
	}
	return m, nil
}

// Match reports whether line passes every hint.
func (m *LineMatcher) Match(line string) bool {
	for _, p := range m.procs {
		if p.matches(line) == p.neg {
			return false
		}
	}
	return true
}

// SelectParams says which entries the engine needs from a Source.
type SelectParams struct {
	Tenant string
	// Start and End bound entry timestamps in unix nanoseconds: Start <= ts < End.
	Start, End int64
	// Direction is the order the engine will present results in. A Source
	// need not return entries in order unless it honours Limit.
	Direction Direction
	// Limit, when non-zero, allows the Source to stop after the first Limit
	// entries in Direction order that match Matchers and all LineFilters.
	// The engine sets it only when the query's whole pipeline is made of
	// those line filters. A Source that cannot order entries ignores it.
	Limit int
	// Matchers select streams (the label selector of the query).
	Matchers []*labels.Matcher
	// LineFilters are pushdown hints; all must hold. The engine applies
	// them again, so a Source may ignore any of them, unless it honours Limit,
	// in which case it must apply all (NewLineMatcher does it).
	LineFilters []LineFilterHint
	// LabelFilters are pushdown hints from label filters that precede every
	// parser and formatter, such as `| trace_id="abc"`; all must hold. Each
	// matcher tests the entry's structured metadata value of that name when
	// present, else its stream label, else "". Like LineFilters they are
	// re-applied by the engine and may be ignored unless Limit is honoured.
	LabelFilters []*labels.Matcher
}

// MatchEntryLabels reports whether an entry passes the LabelFilters hints,
// with the semantics documented on SelectParams.
func MatchEntryLabels(ms []*labels.Matcher, stream, meta labels.Labels) bool {
	for _, m := range ms {
		v := meta.Get(m.Name)
		if v == "" && !meta.Has(m.Name) {
			v = stream.Get(m.Name)
		}
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// Source provides stored log entries to the engine.
type Source interface {
	Select(ctx context.Context, p SelectParams) (Iterator, error)
}

// conjunctionMatchers flattens an and-only predicate into matchers; ok is
// false when the predicate holds anything else (or, numeric comparisons, ip).
func conjunctionMatchers(p LabelPred, out []*labels.Matcher) ([]*labels.Matcher, bool) {
	switch x := p.(type) {
	case *LabelBinary:
		if !x.And {
			return out, false
		}
		out, okL := conjunctionMatchers(x.L, out)
		out, okR := conjunctionMatchers(x.R, out)
		return out, okL && okR
	case *LabelMatch:
		if x.Matcher.Name == ErrorLabel || x.Matcher.Name == ErrorDetailsLabel {
			return out, false
		}
		return append(out, x.Matcher), true
	}
	return out, false
}

// pushdownHints returns the line filters that act on the stored line (those
// before any stage that rewrites it), the label matchers that act on stored
// labels (those before any stage that creates or changes labels), and
// whether the hints make up the whole pipeline.
func pushdownHints(stages []Stage) ([]LineFilterHint, []*labels.Matcher, bool) {
	var (
		hints    []LineFilterHint
		lbls     []*labels.Matcher
		labelsOK = true // no stage so far changed labels
		all      = true
	)
	for _, s := range stages {
		if lf, ok := s.(*LabelFilterStage); ok {
			if !labelsOK {
				all = false
				continue
			}
			var full bool
			var got []*labels.Matcher
			got, full = conjunctionMatchers(lf.Pred, nil)
			if full {
				lbls = append(lbls, got...)
			} else {
				all = false
			}
			continue
		}
		if _, ok := s.(*LineFilter); !ok {
			labelsOK = false
		}
		switch st := s.(type) {
		case *LineFilter:
			if st.IP {
				all = false
				continue
			}
			switch st.Op {
			case LineContains, LineNotContains, LineRegex, LineNotRegex:
				hints = append(hints, LineFilterHint{Op: st.Op, Values: st.Values})
				continue
			}
			all = false
			continue
		case *LineFormatStage, *DecolorizeStage:
			return hints, lbls, false
		case *ParserStage:
			if st.Kind == ParserUnpack {
				return hints, lbls, false
			}
		}
		all = false
	}
	return hints, lbls, all
}
