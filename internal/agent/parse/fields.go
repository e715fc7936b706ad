package parse

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Field is one parsed key/value. Value is a string, int64, float64 or bool.
type Field struct {
	Key   string
	Value any
}

var errLogfmt = errors.New("parse logfmt: malformed")

// ParseLogfmt decodes key=value pairs separated by spaces; values may be
// double-quoted with backslash escapes; a bare key has the value "true".
// It fails unless at least one pair has an '='.
func ParseLogfmt(line []byte) ([]Field, error) {
	var out []Field
	pairs := 0
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		ks := i
		for i < len(line) && line[i] != '=' && line[i] != ' ' && line[i] != '\t' && line[i] != '"' {
			i++
		}
		key := string(line[ks:i])
		if key == "" {
			return nil, errLogfmt
		}
		if i >= len(line) || line[i] != '=' {
			if i < len(line) && line[i] == '"' {
				return nil, errLogfmt
			}
			out = append(out, Field{key, "true"})
			continue
		}
		i++ // '='
		pairs++
		if i < len(line) && line[i] == '"' {
			i++
			var sb strings.Builder
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '\\' && i+1 < len(line) {
					switch line[i+1] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					case 'r':
						sb.WriteByte('\r')
					default:
						sb.WriteByte(line[i+1])
					}
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				sb.WriteByte(c)
				i++
			}
			if !closed || (i < len(line) && line[i] != ' ' && line[i] != '\t') {
				return nil, errLogfmt
			}
			out = append(out, Field{key, sb.String()})
			continue
		}
		vs := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			if line[i] == '"' || line[i] == '=' {
				return nil, errLogfmt
			}
			i++
		}
		out = append(out, Field{key, string(line[vs:i])})
	}
	if pairs == 0 {
		return nil, errLogfmt
	}
	return out, nil
}

// Severity numbers per the OpenTelemetry log data model.
const (
	SevTrace = 1
	SevDebug = 5
	SevInfo  = 9
	SevWarn  = 13
	SevError = 17
	SevFatal = 21
)

// LevelNumber maps a level name to a severity number (0: unknown).
func LevelNumber(s string) int {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "trc", "finest", "finer":
		return SevTrace
	case "debug", "dbg", "fine", "d":
		return SevDebug
	case "info", "inf", "information", "notice", "i":
		return SevInfo
	case "warn", "warning", "wrn", "w":
		return SevWarn
	case "error", "err", "eror", "severe", "e":
		return SevError
	case "fatal", "critical", "crit", "panic", "emerg", "alert", "dpanic", "f":
		return SevFatal
	}
	return 0
}

var timeKeys = []string{"ts", "time", "timestamp", "@timestamp", "t", "datetime"}
var levelKeys = []string{"level", "lvl", "severity", "loglevel", "log.level", "levelname"}

// FieldTimeLevel finds a timestamp and level among parsed fields.
func FieldTimeLevel(fields []Field) (t time.Time, level string) {
	for _, k := range timeKeys {
		if v, ok := lookup(fields, k); ok {
			if tt, ok := parseTimeValue(v); ok {
				t = tt
				break
			}
		}
	}
	for _, k := range levelKeys {
		if v, ok := lookup(fields, k); ok {
			if s, ok := v.(string); ok && LevelNumber(s) != 0 {
				level = s
				break
			}
		}
	}
	return t, level
}

func lookup(fields []Field, key string) (any, bool) {
	for _, f := range fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05,999",
	"2006/01/02 15:04:05.999999999",
	time.RFC1123Z,
	time.RFC1123,
	"02/Jan/2006:15:04:05 -0700",
}

func parseTimeValue(v any) (time.Time, bool) {
	switch x := v.(type) {
	case int64:
		return epoch(float64(x))
	case float64:
		return epoch(x)
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return epoch(f)
		}
		return ParseTime(x)
	}
	return time.Time{}, false
}

// epoch interprets a number as seconds, milliseconds, microseconds or
// nanoseconds since 1970 by its magnitude.
func epoch(f float64) (time.Time, bool) {
	switch {
	case f <= 0 || math.IsNaN(f) || math.IsInf(f, 0):
		return time.Time{}, false
	case f < 1e11:
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	case f < 1e14:
		return time.UnixMilli(int64(f)).UTC(), true
	case f < 1e17:
		return time.UnixMicro(int64(f)).UTC(), true
	case f < 9.2e18:
		return time.Unix(0, int64(f)).UTC(), true
	}
	return time.Time{}, false
}

// ParseTime parses a timestamp in one of the common text layouts.
func ParseTime(s string) (time.Time, bool) {
	if len(s) >= 20 && s[4] == '-' && s[10] == 'T' {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// TextTimeLevel finds a leading timestamp and a level word in plain text.
func TextTimeLevel(line []byte) (t time.Time, level string) {
	if startsWithTimestamp(line) {
		t = leadingTime(line)
	}
	return t, textLevel(line)
}

// leadingTime parses the timestamp at the start of line: the first
// space-separated token, or the first two (date and time).
func leadingTime(line []byte) time.Time {
	s := string(line[:min(len(line), 48)])
	s = strings.TrimPrefix(s, "[")
	first := strings.IndexAny(s, " ]")
	if first < 0 {
		first = len(s)
	}
	if tt, ok := ParseTime(strings.TrimRight(s[:first], ",")); ok {
		return tt
	}
	if first < len(s) && s[first] == ' ' {
		second := strings.IndexAny(s[first+1:], " ]")
		if second < 0 {
			second = len(s) - first - 1
		}
		if tt, ok := ParseTime(strings.TrimRight(s[:first+1+second], ",")); ok {
			return tt
		}
	}
	return time.Time{}
}

// textLevel finds a level word such as "ERROR", "[warn]" or "level=info"
// in the first 128 bytes.
func textLevel(line []byte) string {
	head := line[:min(len(line), 128)]
	if i := bytes.Index(head, []byte("level=")); i >= 0 {
		v := head[i+6:]
		end := bytes.IndexAny(v, " \t\"")
		if end < 0 {
			end = len(v)
		}
		if LevelNumber(string(v[:end])) != 0 {
			return string(v[:end])
		}
	}
	start := -1
	for i := 0; i <= len(head); i++ {
		isLetter := i < len(head) && (head[i] >= 'A' && head[i] <= 'Z' || head[i] >= 'a' && head[i] <= 'z')
		if isLetter && start < 0 {
			start = i
		}
		if !isLetter && start >= 0 {
			w := head[start:i]
			if len(w) >= 4 && len(w) <= 8 && isUpper(w) && LevelNumber(string(w)) != 0 {
				return string(w)
			}
			start = -1
		}
	}
	return ""
}

func isUpper(w []byte) bool {
	for _, c := range w {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
