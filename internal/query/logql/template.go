package logql

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/grafana/regexp"
)

// templateCtx carries the per-line values the __line__ and __timestamp__
// template functions return.
type templateCtx struct {
	line string
	ts   int64
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0
		}
		return f
	case bool:
		if x {
			return 1
		}
	case time.Duration:
		return float64(x)
	}
	return 0
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case float64:
		return int64(x)
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return i
		}
		return int64(toFloat(x))
	}
	return int64(toFloat(v))
}

func toStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func isEmptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case bool:
		return !x
	}
	return false
}

func templateFuncs(ctx *templateCtx) template.FuncMap {
	regexes := map[string]*regexp.Regexp{}
	compile := func(re string) (*regexp.Regexp, error) {
		if r, ok := regexes[re]; ok {
			return r, nil
		}
		r, err := regexp.Compile(re)
		if err != nil {
			return nil, err
		}
		if len(regexes) < 64 {
			regexes[re] = r
		}
		return r, nil
	}
	return template.FuncMap{
		"__line__":      func() string { return ctx.line },
		"__timestamp__": func() time.Time { return time.Unix(0, ctx.ts).UTC() },
		// Go strings style (value first).
		"ToLower":    strings.ToLower,
		"ToUpper":    strings.ToUpper,
		"Replace":    strings.Replace,
		"Trim":       strings.Trim,
		"TrimLeft":   strings.TrimLeft,
		"TrimRight":  strings.TrimRight,
		"TrimPrefix": strings.TrimPrefix,
		"TrimSuffix": strings.TrimSuffix,
		"TrimSpace":  strings.TrimSpace,
		// Sprig style (value last, so they chain in pipelines).
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
		"title": func(s string) string {
			prev := ' '
			return strings.Map(func(r rune) rune {
				out := r
				if unicode.IsSpace(prev) {
					out = unicode.ToTitle(r)
				}
				prev = r
				return out
			}, s)
		},
		"trim":       strings.TrimSpace,
		"trimAll":    func(cut, s string) string { return strings.Trim(s, cut) },
		"trimPrefix": func(p, s string) string { return strings.TrimPrefix(s, p) },
		"trimSuffix": func(p, s string) string { return strings.TrimSuffix(s, p) },
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix":  func(p, s string) bool { return strings.HasPrefix(s, p) },
		"hasSuffix":  func(p, s string) bool { return strings.HasSuffix(s, p) },
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"repeat": func(n int, s string) (string, error) {
			if n < 0 || n*len(s) > 1<<20 {
				return "", fmt.Errorf("repeat: count %d out of range", n)
			}
			return strings.Repeat(s, n), nil
		},
		"count": func(sub, s string) (int, error) {
			r, err := compile(sub)
			if err != nil {
				return 0, err
			}
			return len(r.FindAllStringIndex(s, -1)), nil
		},
		"trunc": func(n int, s string) string {
			r := []rune(s)
			switch {
			case n >= 0 && len(r) > n:
				return string(r[:n])
			case n < 0 && len(r)+n > 0:
				return string(r[len(r)+n:])
			}
			return s
		},
		"substr": func(start, end int, s string) string {
			if start < 0 {
				start = 0
			}
			if end < 0 || end > len(s) {
				end = len(s)
			}
			if start > end {
				return ""
			}
			return s[start:end]
		},
		"indent": func(n int, s string) string {
			if n < 0 || n > 1024 {
				n = 0
			}
			pad := strings.Repeat(" ", n)
			return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"nindent": func(n int, s string) string {
			if n < 0 || n > 1024 {
				n = 0
			}
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"default": func(d any, given ...any) any {
			if len(given) == 0 || isEmptyValue(given[0]) {
				return d
			}
			return given[0]
		},
		"regexReplaceAll": func(re, s, repl string) (string, error) {
			r, err := compile(re)
			if err != nil {
				return "", err
			}
			return r.ReplaceAllString(s, repl), nil
		},
		"regexReplaceAllLiteral": func(re, s, repl string) (string, error) {
			r, err := compile(re)
			if err != nil {
				return "", err
			}
			return r.ReplaceAllLiteralString(s, repl), nil
		},
		"urlencode": url.QueryEscape,
		"urldecode": url.QueryUnescape,
		"b64enc":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"b64dec": func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		},
		"alignLeft": func(n int, s string) string {
			if n < 0 || n > 1<<16 {
				return s
			}
			r := []rune(s)
			if len(r) >= n {
				return string(r[:n])
			}
			return s + strings.Repeat(" ", n-len(r))
		},
		"alignRight": func(n int, s string) string {
			if n < 0 || n > 1<<16 {
				return s
			}
			r := []rune(s)
			if len(r) >= n {
				return string(r[len(r)-n:])
			}
			return strings.Repeat(" ", n-len(r)) + s
		},
		"bytes": func(s string) (float64, error) { return parseBytes(s) },
		"duration": func(s string) (float64, error) {
			d, err := parseDuration(s)
			return d.Seconds(), err
		},
		"duration_seconds": func(s string) (float64, error) {
			d, err := parseDuration(s)
			return d.Seconds(), err
		},
		"unixEpoch":       func(t time.Time) int64 { return t.Unix() },
		"unixEpochMillis": func(t time.Time) int64 { return t.UnixMilli() },
		"unixEpochNanos":  func(t time.Time) int64 { return t.UnixNano() },
		"toDate": func(layout, s string) time.Time {
			t, _ := time.ParseInLocation(layout, s, time.Local)
			return t
		},
		"toDateInZone": func(layout, zone, s string) time.Time {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				loc = time.UTC
			}
			t, _ := time.ParseInLocation(layout, s, loc)
			return t
		},
		"now":  time.Now,
		"date": func(layout string, t time.Time) string { return t.Format(layout) },
		"unixToTime": func(v any) (time.Time, error) {
			s := toStr(v)
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("unixToTime: %w", err)
			}
			switch {
			case len(s) <= 5:
				return time.Unix(n*86400, 0).UTC(), nil
			case len(s) <= 10:
				return time.Unix(n, 0).UTC(), nil
			case len(s) <= 13:
				return time.UnixMilli(n).UTC(), nil
			case len(s) <= 16:
				return time.UnixMicro(n).UTC(), nil
			}
			return time.Unix(0, n).UTC(), nil
		},
		"int":     func(v any) int64 { return toInt(v) },
		"float64": func(v any) float64 { return toFloat(v) },
		"add": func(a ...any) int64 {
			var s int64
			for _, x := range a {
				s += toInt(x)
			}
			return s
		},
		"sub": func(a, b any) int64 { return toInt(a) - toInt(b) },
		"mul": func(a ...any) int64 {
			p := int64(1)
			for _, x := range a {
				p *= toInt(x)
			}
			return p
		},
		"div": func(a, b any) (int64, error) {
			if toInt(b) == 0 {
				return 0, fmt.Errorf("div: division by zero")
			}
			return toInt(a) / toInt(b), nil
		},
		"mod": func(a, b any) (int64, error) {
			if toInt(b) == 0 {
				return 0, fmt.Errorf("mod: division by zero")
			}
			return toInt(a) % toInt(b), nil
		},
		"addf": func(a ...any) float64 {
			var s float64
			for _, x := range a {
				s += toFloat(x)
			}
			return s
		},
		"subf": func(a any, rest ...any) float64 {
			v := toFloat(a)
			for _, x := range rest {
				v -= toFloat(x)
			}
			return v
		},
		"mulf": func(a ...any) float64 {
			p := 1.0
			for _, x := range a {
				p *= toFloat(x)
			}
			return p
		},
		"divf": func(a any, rest ...any) float64 {
			v := toFloat(a)
			for _, x := range rest {
				v /= toFloat(x)
			}
			return v
		},
		"fromJson": func(s string) any {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return ""
			}
			return v
		},
		"max": func(a any, rest ...any) int64 {
			m := toInt(a)
			for _, x := range rest {
				m = max(m, toInt(x))
			}
			return m
		},
		"min": func(a any, rest ...any) int64 {
			m := toInt(a)
			for _, x := range rest {
				m = min(m, toInt(x))
			}
			return m
		},
		"maxf": func(a any, rest ...any) float64 {
			m := toFloat(a)
			for _, x := range rest {
				m = math.Max(m, toFloat(x))
			}
			return m
		},
		"minf": func(a any, rest ...any) float64 {
			m := toFloat(a)
			for _, x := range rest {
				m = math.Min(m, toFloat(x))
			}
			return m
		},
		"ceil":  func(v any) float64 { return math.Ceil(toFloat(v)) },
		"floor": func(v any) float64 { return math.Floor(toFloat(v)) },
		"round": func(v any, p int, roundOn ...float64) float64 {
			on := 0.5
			if len(roundOn) > 0 {
				on = roundOn[0]
			}
			m := math.Pow(10, float64(p))
			x := toFloat(v) * m
			_, frac := math.Modf(math.Abs(x))
			r := math.Trunc(x)
			if frac >= on {
				r += math.Copysign(1, x)
			}
			return r / m
		},
	}
}

// parseTemplate parses a line_format or label_format template; ctx may be nil
// when the template is only validated.
func parseTemplate(text string) (*template.Template, error) {
	return parseTemplateCtx(text, &templateCtx{})
}

func parseTemplateCtx(text string, ctx *templateCtx) (*template.Template, error) {
	t, err := template.New("").Option("missingkey=zero").Funcs(templateFuncs(ctx)).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}
