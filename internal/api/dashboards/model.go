package dashboards

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Schema names the export format; an exported dashboard carries it so an
// import can tell it from a Grafana dashboard.
const Schema = "sightline.dashboard/v1"

// Limits that bound what one dashboard may hold. They keep a stored file,
// a list response and a browser rendering a dashboard small.
const (
	MaxBodyBytes      = 1 << 20 // one request body, import included
	MaxTitleLen       = 200
	MaxDescriptionLen = 2000
	MaxTags           = 20
	MaxTagLen         = 50
	MaxPanels         = 100
	MaxQueriesPerPane = 10
	MaxExprLen        = 10000
	MaxLegendLen      = 500
	MaxNoteLen        = 2000
	MaxVariables      = 20
	MaxVariableValues = 500
	GridColumns       = 24 // panel widths are in 1/24 of the row, as in Grafana
	MaxPanelHeight    = 100
)

// Panel types a dashboard draws. TypeUnsupported keeps a panel an import
// could not convert, with a note saying why, so nothing is dropped silently.
const (
	TypeTimeseries  = "timeseries"
	TypeStat        = "stat"
	TypeTable       = "table"
	TypeUnsupported = "unsupported"
)

// Units a panel may declare (how the page formats values).
var units = map[string]bool{
	"": true, "short": true, "bytes": true, "bytes/s": true, "seconds": true, "milliseconds": true,
	"percent": true, "percent100": true, "ops": true, "cores": true,
}

// Variable types: custom lists its values; query takes them from a label
// (label_values(selector, label) or label_values(label)).
const (
	VarCustom = "custom"
	VarQuery  = "query"
)

var (
	uidRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// Dashboard is a user dashboard as stored and served.
type Dashboard struct {
	// Schema is set to Schema in exports and ignored otherwise.
	Schema      string     `json:"schema,omitempty"`
	UID         string     `json:"uid"`
	Title       string     `json:"title"`
	Description string     `json:"description,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Variables   []Variable `json:"variables,omitempty"`
	Panels      []Panel    `json:"panels"`
	// Version counts saves; an update must name the version it edited.
	Version int64     `json:"version"`
	Created time.Time `json:"created,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
	// Source says where an imported dashboard came from ("grafana").
	Source string `json:"source,omitempty"`
}

// Variable is a dashboard variable; queries refer to it as $name or ${name}.
type Variable struct {
	Name  string `json:"name"`
	Label string `json:"label,omitempty"`
	Type  string `json:"type"`
	// Query is label_values(...) for VarQuery.
	Query string `json:"query,omitempty"`
	// Options are the values of a VarCustom variable.
	Options    []string `json:"options,omitempty"`
	IncludeAll bool     `json:"includeAll,omitempty"`
	Default    string   `json:"default,omitempty"`
}

// Panel is one cell of a dashboard.
type Panel struct {
	ID      int     `json:"id"`
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Unit    string  `json:"unit,omitempty"`
	GridPos GridPos `json:"gridPos"`
	Queries []Query `json:"queries,omitempty"`
	Note    string  `json:"note,omitempty"`
	// OriginalType is the imported panel's type when Type is TypeUnsupported.
	OriginalType string `json:"originalType,omitempty"`
}

// GridPos places a panel: X and W in 1/24 columns, Y and H in rows.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Query is one PromQL expression of a panel with its legend template
// ({{label}} is replaced by the series' label value).
type Query struct {
	Expr   string `json:"expr"`
	Legend string `json:"legend,omitempty"`
}

// Summary is what the dashboard list shows.
type Summary struct {
	UID         string    `json:"uid"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Panels      int       `json:"panels"`
	Version     int64     `json:"version"`
	Updated     time.Time `json:"updated,omitzero"`
	Source      string    `json:"source,omitempty"`
}

func (d *Dashboard) summary() Summary {
	return Summary{UID: d.UID, Title: d.Title, Description: d.Description, Tags: d.Tags,
		Panels: len(d.Panels), Version: d.Version, Updated: d.Updated, Source: d.Source}
}

// ValidationError is a dashboard a client sent that cannot be stored; the
// HTTP API answers it with 400 and its message.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// ValidUID reports whether s can name a dashboard (and its file).
func ValidUID(s string) bool { return uidRE.MatchString(s) }

func checkText(what, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is required", what)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s is %d characters long; at most %d are allowed", what, n, max)
	}
	return nil
}

// normalize trims and checks d in place; the UID is checked only when set.
// Missing panel ids and sizes get defaults.
func (d *Dashboard) normalize() error {
	d.Schema = ""
	d.Title = strings.TrimSpace(d.Title)
	if d.UID != "" && !ValidUID(d.UID) {
		return invalid("uid %q is invalid: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", d.UID)
	}
	if err := checkText("title", d.Title, MaxTitleLen, true); err != nil {
		return err
	}
	if err := checkText("description", d.Description, MaxDescriptionLen, false); err != nil {
		return err
	}
	if len(d.Tags) > MaxTags {
		return invalid("%d tags; at most %d are allowed", len(d.Tags), MaxTags)
	}
	for i, t := range d.Tags {
		if err := checkText(fmt.Sprintf("tags[%d]", i), t, MaxTagLen, true); err != nil {
			return err
		}
	}
	if err := checkText("source", d.Source, MaxTagLen, false); err != nil {
		return err
	}
	if len(d.Variables) > MaxVariables {
		return invalid("%d variables; at most %d are allowed", len(d.Variables), MaxVariables)
	}
	seen := map[string]bool{}
	for i := range d.Variables {
		v := &d.Variables[i]
		where := fmt.Sprintf("variables[%d]", i)
		if !varNameRE.MatchString(v.Name) {
			return invalid("%s: name %q is invalid: use letters, digits and '_', not starting with a digit", where, v.Name)
		}
		if seen[v.Name] {
			return invalid("%s: name %q is used twice", where, v.Name)
		}
		seen[v.Name] = true
		if err := checkText(where+".label", v.Label, MaxTitleLen, false); err != nil {
			return err
		}
		if err := checkText(where+".default", v.Default, MaxLegendLen, false); err != nil {
			return err
		}
		switch v.Type {
		case VarCustom:
			if len(v.Options) > MaxVariableValues {
				return invalid("%s: %d options; at most %d are allowed", where, len(v.Options), MaxVariableValues)
			}
			for j, o := range v.Options {
				if err := checkText(fmt.Sprintf("%s.options[%d]", where, j), o, MaxLegendLen, false); err != nil {
					return err
				}
			}
		case VarQuery:
			if err := checkText(where+".query", v.Query, MaxExprLen, true); err != nil {
				return err
			}
			if _, _, err := ParseLabelValues(v.Query); err != nil {
				return invalid("%s: %v", where, err)
			}
		default:
			return invalid("%s: type %q is not supported: use %q or %q", where, v.Type, VarCustom, VarQuery)
		}
	}
	if len(d.Panels) > MaxPanels {
		return invalid("%d panels; at most %d are allowed", len(d.Panels), MaxPanels)
	}
	ids := map[int]bool{}
	for i := range d.Panels {
		if id := d.Panels[i].ID; id > 0 {
			ids[id] = true
		}
	}
	next := 1
	for i := range d.Panels {
		p := &d.Panels[i]
		where := fmt.Sprintf("panels[%d]", i)
		if p.ID <= 0 {
			for ids[next] {
				next++
			}
			p.ID = next
			ids[next] = true
		}
		p.Title = strings.TrimSpace(p.Title)
		if err := checkText(where+".title", p.Title, MaxTitleLen, false); err != nil {
			return err
		}
		if p.Type == "" {
			p.Type = TypeTimeseries
		}
		switch p.Type {
		case TypeTimeseries, TypeStat, TypeTable, TypeUnsupported:
		default:
			return invalid("%s: type %q is not supported: use timeseries, stat, table or unsupported", where, p.Type)
		}
		if !units[p.Unit] {
			return invalid("%s: unit %q is not supported: use short, bytes, bytes/s, seconds, milliseconds, percent (0–1), percent100 (0–100), ops or cores", where, p.Unit)
		}
		if err := checkText(where+".note", p.Note, MaxNoteLen, false); err != nil {
			return err
		}
		if err := checkText(where+".originalType", p.OriginalType, MaxTagLen, false); err != nil {
			return err
		}
		if len(p.Queries) > MaxQueriesPerPane {
			return invalid("%s: %d queries; at most %d are allowed", where, len(p.Queries), MaxQueriesPerPane)
		}
		if p.Type != TypeUnsupported && len(p.Queries) == 0 {
			return invalid("%s (%q): a %s panel needs at least one query", where, p.Title, p.Type)
		}
		for j := range p.Queries {
			q := &p.Queries[j]
			q.Expr = strings.TrimSpace(q.Expr)
			qw := fmt.Sprintf("%s.queries[%d]", where, j)
			if err := checkText(qw+".expr", q.Expr, MaxExprLen, p.Type != TypeUnsupported); err != nil {
				return err
			}
			if err := checkText(qw+".legend", q.Legend, MaxLegendLen, false); err != nil {
				return err
			}
		}
		g := &p.GridPos
		if g.W <= 0 {
			g.W = GridColumns / 2
		}
		if g.H <= 0 {
			g.H = 8
		}
		if g.X < 0 || g.Y < 0 || g.W > GridColumns || g.X+g.W > GridColumns || g.H > MaxPanelHeight || g.Y > MaxPanels*MaxPanelHeight {
			return invalid("%s: gridPos {x:%d y:%d w:%d h:%d} is outside the %d-column grid", where, g.X, g.Y, g.W, g.H, GridColumns)
		}
	}
	if d.Panels == nil {
		d.Panels = []Panel{}
	}
	return nil
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\s*\(\s*(?:(.*?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// ParseLabelValues splits a query variable's label_values(selector, label)
// or label_values(label) into its selector ("" when absent) and label.
func ParseLabelValues(q string) (selector, label string, err error) {
	m := labelValuesRE.FindStringSubmatch(q)
	if m == nil {
		return "", "", fmt.Errorf("query %q is not supported: use label_values(label) or label_values(selector, label)", q)
	}
	return m[1], m[2], nil
}
