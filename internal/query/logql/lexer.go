package logql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDuration
	tBytes
	tFlag // --strict
	tLBrace
	tRBrace
	tLParen
	tRParen
	tLBracket
	tRBracket
	tComma
	tEq     // =
	tNeq    // !=
	tRe     // =~
	tNre    // !~
	tPipeEq // |=
	tPipeRe // |~
	tPipePt // |>
	tNPt    // !>
	tPipe   // |
	tGt
	tGte
	tLt
	tLte
	tCmpEq // ==
	tAdd
	tSub
	tMul
	tDiv
	tMod
	tPow
)

var tokNames = map[tokKind]string{
	tEOF: "end of input", tIdent: "identifier", tString: "string", tNumber: "number",
	tDuration: "duration", tBytes: "bytes", tFlag: "flag", tLBrace: "{", tRBrace: "}",
	tLParen: "(", tRParen: ")", tLBracket: "[", tRBracket: "]", tComma: ",", tEq: "=",
	tNeq: "!=", tRe: "=~", tNre: "!~", tPipeEq: "|=", tPipeRe: "|~", tPipePt: "|>",
	tNPt: "!>", tPipe: "|", tGt: ">", tGte: ">=", tLt: "<", tLte: "<=", tCmpEq: "==",
	tAdd: "+", tSub: "-", tMul: "*", tDiv: "/", tMod: "%", tPow: "^",
}

type token struct {
	kind tokKind
	pos  int    // byte offset in the input
	text string // raw text; unquoted value for strings
	num  float64
	dur  time.Duration
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tIdent, tNumber, tDuration, tBytes, tFlag:
		return tokNames[t.kind] + " " + strconv.Quote(t.text)
	}
	return strconv.Quote(tokNames[t.kind])
}

// ParseError is a syntax or validation error with its position.
type ParseError struct {
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("parse error at line %d, col %d: %s", e.Line, e.Col, e.Msg)
}

func newParseError(input string, pos int, format string, args ...any) *ParseError {
	if pos > len(input) {
		pos = len(input)
	}
	line, col := 1, 1
	for _, r := range input[:pos] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &ParseError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lex splits the whole input into tokens.
func lex(input string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(input) {
			c := input[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				i++
				continue
			}
			if c == '#' {
				for i < len(input) && input[i] != '\n' {
					i++
				}
				continue
			}
			break
		}
		if i >= len(input) {
			toks = append(toks, token{kind: tEOF, pos: i})
			return toks, nil
		}
		start := i
		c := input[i]
		two := ""
		if i+1 < len(input) {
			two = input[i : i+2]
		}
		emit := func(k tokKind, n int) {
			toks = append(toks, token{kind: k, pos: start, text: input[start : start+n]})
			i += n
		}
		switch {
		case two == "|=":
			emit(tPipeEq, 2)
		case two == "|~":
			emit(tPipeRe, 2)
		case two == "|>":
			emit(tPipePt, 2)
		case two == "!=":
			emit(tNeq, 2)
		case two == "!~":
			emit(tNre, 2)
		case two == "!>":
			emit(tNPt, 2)
		case two == "=~":
			emit(tRe, 2)
		case two == "==":
			emit(tCmpEq, 2)
		case two == ">=":
			emit(tGte, 2)
		case two == "<=":
			emit(tLte, 2)
		case two == "--" && i+2 < len(input) && isIdentStart(input[i+2]):
			j := i + 2
			for j < len(input) && (isIdentChar(input[j]) || input[j] == '-') {
				j++
			}
			emit(tFlag, j-i)
		case c == '|':
			emit(tPipe, 1)
		case c == '=':
			emit(tEq, 1)
		case c == '>':
			emit(tGt, 1)
		case c == '<':
			emit(tLt, 1)
		case c == '{':
			emit(tLBrace, 1)
		case c == '}':
			emit(tRBrace, 1)
		case c == '(':
			emit(tLParen, 1)
		case c == ')':
			emit(tRParen, 1)
		case c == '[':
			emit(tLBracket, 1)
		case c == ']':
			emit(tRBracket, 1)
		case c == ',':
			emit(tComma, 1)
		case c == '+':
			emit(tAdd, 1)
		case c == '-':
			emit(tSub, 1)
		case c == '*':
			emit(tMul, 1)
		case c == '/':
			emit(tDiv, 1)
		case c == '%':
			emit(tMod, 1)
		case c == '^':
			emit(tPow, 1)
		case c == '"' || c == '`':
			s, n, err := lexString(input[i:])
			if err != nil {
				return nil, newParseError(input, start, "%v", err)
			}
			toks = append(toks, token{kind: tString, pos: start, text: s})
			i += n
		case isIdentStart(c):
			j := i
			for j < len(input) && isIdentChar(input[j]) {
				j++
			}
			emit(tIdent, j-i)
		case isDigit(c) || (c == '.' && i+1 < len(input) && isDigit(input[i+1])):
			j := i
			for j < len(input) {
				d := input[j]
				if isIdentChar(d) || d == '.' {
					j++
					continue
				}
				if (d == '+' || d == '-') && (input[j-1] == 'e' || input[j-1] == 'E') && j+1 < len(input) && isDigit(input[j+1]) && isPlainNumber(input[i:j-1]) {
					j++
					continue
				}
				if r, size := utf8.DecodeRuneInString(input[j:]); r == 'µ' {
					j += size
					continue
				}
				break
			}
			tok, err := classifyNumber(input[i:j])
			if err != nil {
				return nil, newParseError(input, start, "%v", err)
			}
			tok.pos = start
			toks = append(toks, tok)
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(input[i:])
			return nil, newParseError(input, start, "unexpected character %q", r)
		}
	}
}

func lexString(s string) (string, int, error) {
	q := s[0]
	if q == '`' {
		end := strings.IndexByte(s[1:], '`')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated raw string")
		}
		return s[1 : 1+end], end + 2, nil
	}
	j := 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			j += 2
			continue
		case '\n':
			return "", 0, fmt.Errorf("newline in string")
		case '"':
			v, err := strconv.Unquote(s[:j+1])
			if err != nil {
				return "", 0, fmt.Errorf("invalid string %s: %w", s[:j+1], err)
			}
			return v, j + 1, nil
		}
		j++
	}
	return "", 0, fmt.Errorf("unterminated string")
}

func classifyNumber(s string) (token, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_nNiI") {
		return token{kind: tNumber, text: s, num: v}, nil
	}
	if d, err := parseDuration(s); err == nil {
		return token{kind: tDuration, text: s, dur: d, num: d.Seconds()}, nil
	}
	if b, err := parseBytes(s); err == nil {
		return token{kind: tBytes, text: s, num: b}, nil
	}
	return token{}, fmt.Errorf("invalid number, duration or bytes literal %q", s)
}

func parseDuration(s string) (time.Duration, error) {
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse duration: %w", err)
	}
	return d, nil
}

var byteUnits = map[string]float64{
	"b": 1, "": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pi": 1 << 50, "pib": 1 << 50,
	"e": 1e18, "eb": 1e18, "ei": 1 << 60, "eib": 1 << 60,
}

// parseBytes parses sizes such as "20MB", "1.5KiB" or "300" (SI and IEC units).
func parseBytes(s string) (float64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("parse bytes %q: no number", s)
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("parse bytes %q: %w", s, err)
	}
	unit := strings.ToLower(strings.TrimSpace(s[i:]))
	m, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("parse bytes %q: unknown unit %q", s, unit)
	}
	return v * m, nil
}

func isPlainNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '.' {
			return false
		}
	}
	return s != ""
}
