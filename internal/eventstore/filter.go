package eventstore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/grafana/regexp"

	"github.com/sightline/sightline/internal/model"
)

// FilterOp is a field filter's operation.
type FilterOp uint8

// Filter operations. String operations apply to a field's text form
// (numbers in decimal, ids in lowercase hex).
const (
	// OpEqual: the value equals Value. Numeric fields compare numerically
	// when Value is a number. Equal to "" also matches rows without the field.
	OpEqual FilterOp = iota + 1
	// OpPhrase: Value occurs as whole words (a phrase of tokens) — "connection
	// refused" matches "dial: connection refused!" but not "connection refusedX".
	// Accelerated by the token bloom filters.
	OpPhrase
	// OpSubstring: Value occurs anywhere (LogQL |=). Only Value's complete
	// inner tokens can use the bloom filters.
	OpSubstring
	// OpRegex: the regular expression Value (RE2 syntax, unanchored) matches.
	OpRegex
	// OpGT, OpGE, OpLT, OpLE compare the field as a number with Num; rows
	// whose field is not a number do not match.
	OpGT
	OpGE
	OpLT
	OpLE
	// OpExists: the row has the field.
	OpExists
)

// Filter selects rows by one field. Field "" means the body (_msg); other
// intrinsic names are in package model (model.FieldSeverity, ...).
type Filter struct {
	Field string
	Op    FilterOp
	Value string
	Num   float64
	// Not inverts the filter (a row without the field then matches any
	// negated filter except Not OpEqual "").
	Not bool
}

// cfilter is a Filter prepared for evaluation.
type cfilter struct {
	Filter
	re     *regexp.Regexp
	tokens []uint64 // hashes of tokens every matching value must contain
	num    float64
	isNum  bool
	id     []byte // Value as id bytes for id columns (nil if not hex)
	// lit is a literal every matching string contains (see prefilter.go).
	lit      string
	litFold  bool // lit is lower-case ASCII, to be found ignoring case
	litExact bool // containing lit is the whole test
	// grams are the trigram hashes of lit (ngram.go), checked against
	// trigram filters.
	grams []uint64
	// gramAlts: every matching value holds all trigrams of at least one
	// of these sets (regexp alternations of literals).
	gramAlts [][]uint64
}

func compileFilters(fs []Filter) ([]*cfilter, error) {
	out := make([]*cfilter, 0, len(fs))
	for _, f := range fs {
		if f.Field == "" {
			f.Field = model.FieldBody
		}
		c := &cfilter{Filter: f}
		switch f.Op {
		case OpEqual:
			c.num, c.isNum = parseNum(f.Value)
			c.tokens = appendTokenHashes(nil, f.Value)
			if b, err := hex.DecodeString(f.Value); err == nil && len(b) > 0 {
				c.id = b
				// A 64-bit trace id (Zipkin B3, older Jaeger) is stored
				// left-padded to 16 bytes, as model.ParseTraceID reads it:
				// its 16-digit form must find it.
				if f.Field == model.FieldTraceID && len(b) < len(model.TraceID{}) {
					c.id = make([]byte, len(model.TraceID{}))
					copy(c.id[len(c.id)-len(b):], b)
				}
			}
		case OpPhrase:
			c.tokens = appendTokenHashes(nil, f.Value)
		case OpSubstring:
			c.tokens = innerTokenHashes(f.Value)
		case OpRegex:
			re, err := regexp.Compile(f.Value)
			if err != nil {
				return nil, fmt.Errorf("compile filter on %s: %w", f.Field, err)
			}
			c.re = re
		case OpGT, OpGE, OpLT, OpLE:
			c.num, c.isNum = f.Num, true
		case OpExists:
		default:
			return nil, fmt.Errorf("compile filter on %s: unknown operation %d", f.Field, f.Op)
		}
		c.setPrefilter()
		out = append(out, c)
	}
	return out, nil
}

func parseNum(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// innerTokenHashes returns the tokens of s that cannot be part of a longer
// token in a value containing s: those not touching s's ends.
func innerTokenHashes(s string) []uint64 {
	var out []uint64
	i := 0
	for i < len(s) {
		for i < len(s) && !isTokenByte[s[i]] {
			i++
		}
		j := i
		for j < len(s) && isTokenByte[s[j]] {
			j++
		}
		if j > i && i > 0 && j < len(s) {
			out = append(out, tokenHash(s[i:j]))
		}
		i = j
	}
	return out
}

// containsPhrase reports whether p occurs in s on token boundaries.
func containsPhrase(s, p string) bool {
	if p == "" {
		return true
	}
	startTok, endTok := isTokenByte[p[0]], isTokenByte[p[len(p)-1]]
	for off := 0; ; {
		i := strings.Index(s[off:], p)
		if i < 0 {
			return false
		}
		i += off
		okL := !startTok || i == 0 || !isTokenByte[s[i-1]]
		e := i + len(p)
		okR := !endTok || e == len(s) || !isTokenByte[s[e]]
		if okL && okR {
			return true
		}
		off = i + 1
	}
}

// matchString evaluates the filter (without Not) on a present string value.
func (f *cfilter) matchString(s string) bool {
	switch f.Op {
	case OpEqual:
		if s == f.Value {
			return true
		}
		if f.isNum {
			if n, ok := parseNum(s); ok {
				return n == f.num
			}
		}
		return false
	case OpPhrase:
		return containsPhrase(s, f.Value)
	case OpSubstring:
		return strings.Contains(s, f.Value)
	case OpRegex:
		return f.containsLit(s) && f.re.MatchString(s)
	case OpGT, OpGE, OpLT, OpLE:
		n, ok := parseNum(s)
		return ok && f.cmp(n)
	case OpExists:
		return true
	}
	return false
}

func (f *cfilter) cmp(n float64) bool {
	switch f.Op {
	case OpGT:
		return n > f.num
	case OpGE:
		return n >= f.num
	case OpLT:
		return n < f.num
	case OpLE:
		return n <= f.num
	case OpEqual:
		return n == f.num
	}
	return false
}

// matchValue evaluates the filter (without Not) on a present value.
func (f *cfilter) matchValue(v model.Value) bool {
	switch v.Type {
	case model.TypeString:
		return f.matchString(v.Str)
	case model.TypeInt, model.TypeFloat, model.TypeBool:
		n, _ := v.Number()
		switch f.Op {
		case OpGT, OpGE, OpLT, OpLE:
			return f.cmp(n)
		case OpEqual:
			if f.isNum {
				return n == f.num
			}
		case OpExists:
			return true
		}
		var buf [32]byte
		return f.matchString(bytesToString(v.AppendText(buf[:0])))
	}
	return false
}

// matchAbsent evaluates the filter (without Not) on a row lacking the field.
func (f *cfilter) matchAbsent() bool { return f.Op == OpEqual && f.Value == "" }

// matchEvent evaluates the filter, Not included, on an event.
func (f *cfilter) matchEvent(e *model.Event) bool {
	var m bool
	switch f.Field {
	case model.FieldTraceID, model.FieldSpanID, model.FieldParentSpanID:
		var id []byte
		switch f.Field {
		case model.FieldTraceID:
			id = e.TraceID[:]
		case model.FieldSpanID:
			id = e.SpanID[:]
		default:
			id = e.ParentSpanID[:]
		}
		m = f.matchID(id)
	default:
		v, ok := e.Field(f.Field)
		if ok {
			m = f.matchValue(v)
		} else {
			m = f.matchAbsent()
		}
	}
	return m != f.Not
}

// matchID evaluates the filter (without Not) on an id (zeros = absent).
func (f *cfilter) matchID(id []byte) bool {
	if allZero(id) {
		return f.matchAbsent()
	}
	if f.Op == OpEqual && f.id != nil {
		return bytes.Equal(id, f.id)
	}
	var buf [64]byte
	return f.matchString(bytesToString(hex.AppendEncode(buf[:0], id)))
}

// colMayMatch decides from a column's header, and its bloom filter when
// needed, whether any row can match (Not excluded by the caller). bloom
// loads the column's filter (nil when it has none).
func (f *cfilter) colMayMatch(c *columnHeader, bloom func() ([]byte, error)) (may bool, usedBloom bool, err error) {
	if f.Op == OpExists {
		return true, false, nil
	}
	switch c.typ {
	case ctString:
		switch c.enc {
		case encConst:
			return f.matchString(c.constStr), false, nil
		case encDict:
			return slices.ContainsFunc(c.dict, f.matchString), false, nil
		}
		useTokens := len(f.tokens) > 0 && (f.Op == OpEqual || f.Op == OpPhrase || f.Op == OpSubstring)
		if c.bloomLen == 0 || (!useTokens && len(f.grams) == 0 && len(f.gramAlts) == 0) {
			return true, false, nil
		}
		b, err := bloom()
		if err != nil {
			return false, false, err
		}
		tok, gram, err := bloomSplit(b)
		if err != nil {
			return false, false, err
		}
		if useTokens {
			for _, h := range f.tokens {
				if !bloomHas(tok, h) {
					return false, true, nil
				}
			}
		}
		if gram != nil {
			// Every value holding lit holds all its trigrams.
			if !bloomHasAll(gram, f.grams) {
				return false, true, nil
			}
			if len(f.gramAlts) > 0 && !slices.ContainsFunc(f.gramAlts, func(g []uint64) bool { return bloomHasAll(gram, g) }) {
				return false, true, nil
			}
		}
		return true, true, nil
	case ctInt, ctFloat, ctBool:
		lo, hi := float64(c.minV), float64(c.maxV)
		if c.typ == ctFloat {
			lo, hi = math.Float64frombits(uint64(c.minV)), math.Float64frombits(uint64(c.maxV))
			if c.enc != encConst && (math.IsNaN(lo) || math.IsNaN(hi)) {
				// Writers before NaN was kept out of the bounds stored a
				// NaN bound for any block holding one NaN.
				return true, false, nil
			}
		}
		switch f.Op {
		case OpEqual:
			if !f.isNum {
				return false, false, nil
			}
			return f.num >= lo && f.num <= hi, false, nil
		case OpGT:
			return hi > f.num, false, nil
		case OpGE:
			return hi >= f.num, false, nil
		case OpLT:
			return lo < f.num, false, nil
		case OpLE:
			return lo <= f.num, false, nil
		}
		return true, false, nil
	case ctID:
		if f.Op != OpEqual {
			return true, false, nil
		}
		if f.id == nil || len(f.id) != int(c.width) {
			return false, false, nil
		}
		if c.enc == encConst {
			return c.constStr == string(f.id), false, nil
		}
		if c.bloomLen == 0 {
			return true, false, nil
		}
		b, err := bloom()
		if err != nil {
			return false, false, err
		}
		tok, _, err := bloomSplit(b)
		if err != nil {
			return false, false, err
		}
		return bloomHas(tok, idHash(f.id)), true, nil
	}
	return true, false, nil
}
