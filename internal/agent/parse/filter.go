package parse

import (
	"fmt"

	"github.com/grafana/regexp"
)

// FilterRule drops records. Rules apply in order: "drop" drops a record
// that matches, "keep" drops a record that does not match.
type FilterRule struct {
	Action string `yaml:"action"` // "drop" or "keep"
	// Field names a parsed field to match; empty matches the line text.
	Field string `yaml:"field"`
	Regex string `yaml:"regex"`
}

type filter struct {
	keep  bool
	field string
	re    *regexp.Regexp
}

func compileFilters(rules []FilterRule) ([]filter, error) {
	out := make([]filter, 0, len(rules))
	for i, r := range rules {
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("compile filter %d regex: %w", i, err)
		}
		switch r.Action {
		case "drop", "keep":
		default:
			return nil, fmt.Errorf("compile filter %d: action %q is neither drop nor keep", i, r.Action)
		}
		out = append(out, filter{keep: r.Action == "keep", field: r.Field, re: re})
	}
	return out, nil
}

// dropped reports whether the filters drop a record.
func dropped(filters []filter, body []byte, fields []Field) bool {
	for _, f := range filters {
		var m bool
		if f.field == "" {
			m = f.re.Match(body)
		} else if v, ok := lookup(fields, f.field); ok {
			m = f.re.MatchString(fmt.Sprint(v))
		}
		if m != f.keep {
			return true
		}
	}
	return false
}
