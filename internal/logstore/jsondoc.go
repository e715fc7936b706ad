package logstore

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/model"
)

// JSONMapping says which fields of a JSON document are the line, the time
// and the stream.
type JSONMapping struct {
	// MessageFields: the first present is the line. Default _msg, message, msg, log.
	MessageFields []string
	// TimeFields: the first present is the time. Default _time, @timestamp, timestamp, time, ts.
	TimeFields []string
	// StreamFields, when not nil, replace the schema's stream keys for
	// these documents. Dotted keys also match nested objects.
	StreamFields []StreamLabel
}

// DefaultJSONMapping returns the default field names.
func DefaultJSONMapping() JSONMapping {
	return JSONMapping{
		MessageFields: []string{"_msg", "message", "msg", "log"},
		TimeFields:    []string{"_time", "@timestamp", "timestamp", "time", "ts"},
	}
}

// lookup finds key in m, also as a path through nested objects ("a.b");
// it returns the owning map and the key within it so the caller can remove it.
func lookup(m map[string]any, key string) (any, map[string]any, string, bool) {
	if v, ok := m[key]; ok {
		return v, m, key, true
	}
	head, rest, ok := strings.Cut(key, ".")
	for ok {
		if sub, isMap := m[head].(map[string]any); isMap {
			if v, owner, k, found := lookup(sub, rest); found {
				return v, owner, k, true
			}
		}
		var more string
		more, rest, ok = strings.Cut(rest, ".")
		head += "." + more
	}
	return nil, nil, "", false
}

// FromJSON builds a row from a decoded JSON document; now stamps documents
// without a time field. The document map is consumed.
func (s *Schema) FromJSON(tenant string, m map[string]any, jm JSONMapping, now int64) (model.Event, error) {
	r := s.NewRecord(tenant, now)
	for _, f := range jm.TimeFields {
		v, owner, k, ok := lookup(m, f)
		if !ok {
			continue
		}
		t, err := ParseTimeValue(v)
		if err != nil {
			return model.Event{}, fmt.Errorf("field %q: %w", f, err)
		}
		r.SetTime(t)
		delete(owner, k)
		break
	}
	for _, f := range jm.MessageFields {
		v, owner, k, ok := lookup(m, f)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			r.SetBody(x)
		case nil:
		default:
			b, _ := json.Marshal(x)
			r.SetBody(string(b))
		}
		delete(owner, k)
		break
	}
	if jm.StreamFields != nil {
		for _, sf := range jm.StreamFields {
			v, owner, k, ok := lookup(m, sf.From)
			if !ok {
				continue
			}
			if str, isStr := v.(string); isStr {
				r.addStreamOnce(sf.To, str)
				delete(owner, k)
			} else if n, isNum := v.(json.Number); isNum {
				r.addStreamOnce(sf.To, string(n))
				delete(owner, k)
			}
		}
	} else {
		// In the configured order, so that when two keys name the same
		// label (deployment.environment and deployment.environment.name)
		// the first listed wins on every row.
		for _, sl := range s.opts.StreamLabels {
			if !strings.Contains(sl.From, ".") {
				continue // plain keys are found by Add
			}
			if v, owner, k, ok := lookup(m, sl.From); ok {
				if str, isStr := v.(string); isStr {
					r.addStreamOnce(s.stream[sl.From], str)
					delete(owner, k)
				}
			}
		}
	}
	r.AddFields(m)
	return r.Event(), nil
}

// ParseTimeValue parses a JSON time: an RFC3339 string, or a Unix time as
// a number or numeric string in seconds, milliseconds, microseconds or
// nanoseconds (told apart by magnitude).
func ParseTimeValue(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return 0, fmt.Errorf("time must be a string or number, got %T", v)
	}
	return parseTimeText(s)
}

// parseTimeText is ParseTimeValue for the text of a string or number.
func parseTimeText(s string) (int64, error) {
	if t, ok := parseRFC3339UTC(s); ok {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("time %q is neither RFC3339 nor a Unix timestamp", s)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case i < 1e11:
			return i * 1e9, nil
		case i < 1e14:
			return i * 1e6, nil
		case i < 1e17:
			return i * 1e3, nil
		}
		return i, nil
	}
	switch {
	case f < 1e11:
		return int64(math.Round(f * 1e9)), nil
	case f < 1e14:
		return int64(math.Round(f * 1e6)), nil
	case f < 1e17:
		return int64(math.Round(f * 1e3)), nil
	case f < 9e18:
		return int64(f), nil
	}
	return 0, fmt.Errorf("time %q is out of range", s)
}

// parseRFC3339UTC parses the common form of log timestamps,
// "YYYY-MM-DDTHH:MM:SS[.F]Z" with 1 to 9 fraction digits (after "." or ","
// as time.Parse takes) and a year from
// 1970 to 2199, to Unix ns as time.Parse(time.RFC3339Nano) would; ok is
// false for anything else (other forms, invalid dates), which
// time.Parse then handles.
func parseRFC3339UTC(s string) (int64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return 0, false
	}
	num := func(a, b int) int {
		v := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, mon, day := num(0, 4), num(5, 7), num(8, 10)
	hh, mm, ss := num(11, 13), num(14, 16), num(17, 19)
	if year < 1970 || year >= 2200 || mon < 1 || mon > 12 || day < 1 || day > daysIn(mon, year) ||
		hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 {
		return 0, false
	}
	frac := 0
	if len(s) > 20 {
		digits := len(s) - 21
		if s[19] != '.' && s[19] != ',' || digits < 1 || digits > 9 {
			return 0, false
		}
		if frac = num(20, len(s)-1); frac < 0 {
			return 0, false
		}
		for range 9 - digits {
			frac *= 10
		}
	}
	// Days since 1970-01-01 of a proleptic Gregorian date, with March as
	// the first month of the year so leap days come last.
	y := year
	if mon <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	m := (mon + 9) % 12
	doy := (153*m+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := int64(era*146097+doe) - 719468
	return ((days*86400+int64(hh*3600+mm*60+ss))*1e9 + int64(frac)), true
}

func daysIn(mon, year int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
