package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Import formats Decode recognises.
const (
	FormatSightline = "sightline"
	FormatGrafana   = "grafana"
)

// Imported is a dashboard decoded from import JSON, ready for Create.
type Imported struct {
	Dashboard *Dashboard
	// Format is FormatSightline or FormatGrafana.
	Format string
	// Warnings list what the conversion changed or could not keep.
	Warnings []string
}

// Decode reads a dashboard to import: sightline's export format (or a
// dashboard as the API returns it), or a Grafana dashboard — bare, or
// wrapped as {"dashboard": {...}} the way Grafana's API returns it.
// Grafana panels of type timeseries, graph, stat, singlestat, gauge and
// table with Prometheus targets become sightline panels; any other panel
// becomes an "unsupported" panel with a note, so nothing is dropped
// silently. Errors are *ValidationError.
func Decode(b []byte) (*Imported, error) {
	if len(b) > MaxBodyBytes {
		return nil, invalid("the dashboard JSON is %d bytes; at most %d are accepted", len(b), MaxBodyBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, invalid("the import is not a JSON object: %v", err)
	}
	if inner, ok := top["dashboard"]; ok && bytes.HasPrefix(bytes.TrimSpace(inner), []byte("{")) {
		top = nil
		if err := json.Unmarshal(inner, &top); err != nil {
			return nil, invalid("decode the wrapped dashboard: %v", err)
		}
		b = inner
	}
	var schema string
	if raw, ok := top["schema"]; ok {
		_ = json.Unmarshal(raw, &schema)
	}
	switch {
	case schema == Schema || (schema == "" && looksSightline(top)):
		var d Dashboard
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			return nil, invalid("decode the sightline dashboard: %v", err)
		}
		d.Version, d.Created, d.Updated = 0, d.Created.UTC(), d.Updated.UTC()
		if err := d.normalize(); err != nil {
			return nil, err
		}
		return &Imported{Dashboard: &d, Format: FormatSightline}, nil
	case schema != "":
		return nil, invalid("schema %q is not supported: this server reads %q", schema, Schema)
	case looksGrafana(top):
		return fromGrafana(b)
	default:
		return nil, invalid("the JSON is neither a sightline dashboard (\"schema\": %q) nor a Grafana dashboard (with \"panels\" or \"rows\")", Schema)
	}
}

// looksSightline recognises a dashboard as this API returns it: panels
// carrying "queries" rather than Grafana's "targets".
func looksSightline(top map[string]json.RawMessage) bool {
	raw, ok := top["panels"]
	if !ok {
		return false
	}
	var panels []map[string]json.RawMessage
	if json.Unmarshal(raw, &panels) != nil {
		return false
	}
	for _, p := range panels {
		if _, ok := p["targets"]; ok {
			return false
		}
	}
	for _, p := range panels {
		if _, ok := p["queries"]; ok {
			return true
		}
	}
	_, hasSchemaVersion := top["schemaVersion"]
	return len(panels) == 0 && !hasSchemaVersion
}

func looksGrafana(top map[string]json.RawMessage) bool {
	for _, k := range []string{"panels", "rows", "schemaVersion", "templating"} {
		if _, ok := top[k]; ok {
			return true
		}
	}
	return false
}

// The subset of Grafana's dashboard JSON the importer reads. Fields whose
// type varies between Grafana versions are kept raw.
type gDashboard struct {
	UID         string                     `json:"uid"`
	Title       string                     `json:"title"`
	Description string                     `json:"description"`
	Tags        []string                   `json:"tags"`
	Panels      []gPanel                   `json:"panels"`
	Rows        []gRow                     `json:"rows"`
	Templating  struct{ List []gVariable } `json:"templating"`
}

type gRow struct {
	Title  string   `json:"title"`
	Height any      `json:"height"`
	Panels []gPanel `json:"panels"`
}

type gPanel struct {
	ID          float64         `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	GridPos     *gGridPos       `json:"gridPos"`
	Span        float64         `json:"span"`
	Targets     []gTarget       `json:"targets"`
	Datasource  json.RawMessage `json:"datasource"`
	Panels      []gPanel        `json:"panels"` // a collapsed row's panels
	Repeat      string          `json:"repeat"`
	Content     string          `json:"content"`
	Options     struct {
		Content string `json:"content"`
	} `json:"options"`
	Format      string `json:"format"` // singlestat unit
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	YAxes []struct {
		Format string `json:"format"`
	} `json:"yaxes"`
}

type gGridPos struct {
	X, Y, W, H float64
}

type gTarget struct {
	Expr         string          `json:"expr"`
	LegendFormat string          `json:"legendFormat"`
	Hide         bool            `json:"hide"`
	Datasource   json.RawMessage `json:"datasource"`
	Query        json.RawMessage `json:"query"`
}

type gVariable struct {
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	IncludeAll bool            `json:"includeAll"`
	Options    []struct {
		Value json.RawMessage `json:"value"`
	} `json:"options"`
	Current struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
}

// datasourceType returns a Grafana datasource reference's plugin type
// ("" when it names none, as a bare name or a ${var} reference does).
func datasourceType(raw json.RawMessage) string {
	var ref struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &ref) == nil {
		return ref.Type
	}
	return ""
}

func fromGrafana(b []byte) (*Imported, error) {
	var g gDashboard
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, invalid("decode the Grafana dashboard: %v", err)
	}
	im := &Imported{Format: FormatGrafana}
	d := &Dashboard{Title: g.Title, Description: g.Description, Source: FormatGrafana, Panels: []Panel{}}
	if strings.TrimSpace(d.Title) == "" {
		d.Title = "Imported Grafana dashboard"
		im.warn("the dashboard had no title; it is called %q", d.Title)
	}
	if ValidUID(g.UID) {
		d.UID = g.UID
	} else if g.UID != "" {
		im.warn("uid %q cannot name a sightline dashboard; a new uid was chosen", g.UID)
	}
	for _, t := range g.Tags {
		if t = strings.TrimSpace(t); t != "" && len(d.Tags) < MaxTags {
			d.Tags = append(d.Tags, truncate(t, MaxTagLen))
		}
	}
	d.Title = truncate(d.Title, MaxTitleLen)
	d.Description = truncate(d.Description, MaxDescriptionLen)
	for _, v := range g.Templating.List {
		if len(d.Variables) == MaxVariables {
			im.warn("only the first %d variables were kept", MaxVariables)
			break
		}
		if cv, ok := im.variable(v); ok {
			d.Variables = append(d.Variables, cv)
		}
	}

	// Panels: the modern list (with the panels of collapsed rows), or the
	// rows of dashboards older than schema 16, laid out from their spans.
	var panels []gPanel
	for _, p := range g.Panels {
		if p.Type == "row" {
			panels = append(panels, p.Panels...)
			continue
		}
		panels = append(panels, p)
	}
	y := 0
	for _, r := range g.Rows {
		x, rowH := 0, 8
		for _, p := range r.Panels {
			w := int(p.Span * 2)
			if w <= 0 || w > GridColumns {
				w = GridColumns / 2
			}
			if x+w > GridColumns {
				x, y = 0, y+rowH
			}
			p.GridPos = &gGridPos{X: float64(x), Y: float64(y), W: float64(w), H: float64(rowH)}
			x += w
			panels = append(panels, p)
		}
		y += rowH
	}
	if len(panels) > MaxPanels {
		return nil, invalid("the Grafana dashboard has %d panels; at most %d are accepted", len(panels), MaxPanels)
	}
	for _, p := range panels {
		d.Panels = append(d.Panels, im.panel(p))
	}
	if err := d.normalize(); err != nil {
		return nil, err
	}
	im.Dashboard = d
	return im, nil
}

func (im *Imported) warn(format string, args ...any) {
	if len(im.Warnings) < 100 {
		im.Warnings = append(im.Warnings, fmt.Sprintf(format, args...))
	}
}

func truncate(s string, n int) string {
	r := []rune(strings.ToValidUTF8(s, "�"))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

// rawString reads a JSON value that is a string, or an object with a
// "query" string (Grafana 9+ query variables), or a list of strings
// (a multi-value "current"; the first is taken).
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Query != "" {
		return obj.Query
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

func (im *Imported) variable(v gVariable) (Variable, bool) {
	out := Variable{Name: v.Name, Label: truncate(v.Label, MaxTitleLen), IncludeAll: v.IncludeAll}
	if !varNameRE.MatchString(v.Name) {
		im.warn("variable %q was left out: its name is not a valid identifier", v.Name)
		return out, false
	}
	cur := rawString(v.Current.Value)
	if cur == "$__all" {
		cur = ""
	}
	out.Default = truncate(cur, MaxLegendLen)
	switch v.Type {
	case "custom", "interval", "constant", "textbox":
		out.Type = VarCustom
		for _, o := range v.Options {
			if s := rawString(o.Value); s != "" && s != "$__all" && len(out.Options) < MaxVariableValues {
				out.Options = append(out.Options, truncate(s, MaxLegendLen))
			}
		}
		if len(out.Options) == 0 {
			for _, s := range strings.Split(rawString(v.Query), ",") {
				// "text : value" pairs keep their value.
				if i := strings.LastIndex(s, " : "); i >= 0 {
					s = s[i+3:]
				}
				if s = strings.TrimSpace(s); s != "" && len(out.Options) < MaxVariableValues {
					out.Options = append(out.Options, truncate(s, MaxLegendLen))
				}
			}
		}
		if v.Type != "custom" {
			im.warn("variable %q (Grafana type %s) became a custom variable with its values", v.Name, v.Type)
		}
		return out, true
	case "query":
		q := rawString(v.Query)
		if q == "" {
			q = v.Definition
		}
		if _, _, err := ParseLabelValues(q); err != nil {
			im.warn("variable %q was left out: %v", v.Name, err)
			return out, false
		}
		out.Type, out.Query = VarQuery, truncate(q, MaxExprLen)
		return out, true
	case "datasource":
		im.warn("variable %q (a data source picker) was left out: sightline is the only data source", v.Name)
		return out, false
	default:
		im.warn("variable %q was left out: Grafana variables of type %q are not supported", v.Name, v.Type)
		return out, false
	}
}

var (
	legacyVarRE    = regexp.MustCompile(`\[\[([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z0-9_]+)?\]\]`)
	formattedVarRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):[A-Za-z0-9_]+\}`)
)

// grafanaExpr rewrites Grafana's variable syntaxes the page does not
// expand ([[name]], ${name:format}) to ${name}.
func grafanaExpr(s string) string {
	s = legacyVarRE.ReplaceAllString(s, `$${$1}`)
	return formattedVarRE.ReplaceAllString(s, `$${$1}`)
}

var panelTypes = map[string]string{
	"timeseries": TypeTimeseries, "graph": TypeTimeseries,
	"stat": TypeStat, "singlestat": TypeStat, "gauge": TypeStat,
	"table": TypeTable, "table-old": TypeTable,
}

var grafanaUnits = map[string]string{
	"": "", "none": "short", "short": "short",
	"s": "seconds", "dtdurations": "seconds", "ms": "milliseconds",
	"bytes": "bytes", "decbytes": "bytes", "Bps": "bytes/s", "binBps": "bytes/s",
	"percentunit": "percent", "percent": "percent100",
	"reqps": "ops", "ops": "ops", "rps": "ops", "wps": "ops", "iops": "ops", "cps": "ops",
}

func (im *Imported) panel(p gPanel) Panel {
	out := Panel{ID: int(p.ID), Title: truncate(p.Title, MaxTitleLen)}
	if p.ID < 1 || p.ID > 1<<30 {
		out.ID = 0 // normalize assigns one
	}
	if g := p.GridPos; g != nil {
		out.GridPos = GridPos{X: clampInt(g.X, 0, GridColumns-1), Y: clampInt(g.Y, 0, MaxPanels*MaxPanelHeight),
			W: clampInt(g.W, 1, GridColumns), H: clampInt(g.H, 1, MaxPanelHeight)}
		if out.GridPos.X+out.GridPos.W > GridColumns {
			out.GridPos.X = GridColumns - out.GridPos.W
		}
	}
	name := out.Title
	if name == "" {
		name = fmt.Sprintf("#%d", int(p.ID))
	}
	unsupported := func(note string) Panel {
		out.Type, out.OriginalType, out.Note, out.Unit = TypeUnsupported, truncate(p.Type, MaxTagLen), truncate(note, MaxNoteLen), ""
		im.warn("panel %q: %s", name, note)
		return out
	}
	// Queries are kept even on unsupported panels so a user can rebuild them.
	var dropped int
	for _, t := range p.Targets {
		if t.Hide {
			continue
		}
		if ds := datasourceType(t.Datasource); ds != "" && ds != "prometheus" {
			dropped++
			continue
		}
		expr := strings.TrimSpace(t.Expr)
		if expr == "" {
			dropped++
			continue
		}
		if len(out.Queries) == MaxQueriesPerPane {
			dropped++
			continue
		}
		legend := t.LegendFormat
		if legend == "__auto" {
			legend = ""
		}
		out.Queries = append(out.Queries, Query{Expr: truncate(grafanaExpr(expr), MaxExprLen), Legend: truncate(legend, MaxLegendLen)})
	}
	if p.Repeat != "" {
		im.warn("panel %q repeats for each value of $%s in Grafana; here it is drawn once", name, p.Repeat)
	}
	typ, ok := panelTypes[p.Type]
	switch {
	case p.Type == "text":
		content := p.Options.Content
		if content == "" {
			content = p.Content
		}
		return unsupported("Grafana text panel, kept as a note: " + strings.TrimSpace(content))
	case !ok:
		return unsupported(fmt.Sprintf("Grafana panel type %q is not supported here; its %d PromQL queries are kept", p.Type, len(out.Queries)))
	case datasourceType(p.Datasource) != "" && datasourceType(p.Datasource) != "prometheus" && len(out.Queries) == 0:
		return unsupported(fmt.Sprintf("the panel queries a %q data source; only Prometheus queries are imported", datasourceType(p.Datasource)))
	case len(out.Queries) == 0:
		return unsupported("the panel has no PromQL query to import")
	}
	if dropped > 0 {
		im.warn("panel %q: %d queries that are not PromQL were left out", name, dropped)
	}
	out.Type = typ
	unit := p.FieldConfig.Defaults.Unit
	if unit == "" && len(p.YAxes) > 0 {
		unit = p.YAxes[0].Format
	}
	if unit == "" {
		unit = p.Format
	}
	u, ok := grafanaUnits[unit]
	if !ok {
		im.warn("panel %q: unit %q is shown as a plain number", name, unit)
		u = "short"
	}
	out.Unit = u
	if p.Type == "gauge" {
		im.warn("panel %q: the gauge is shown as a stat", name)
	}
	return out
}

func clampInt(f float64, lo, hi int) int {
	if f != f || f < float64(lo) { // NaN included
		return lo
	}
	if f > float64(hi) {
		return hi
	}
	return int(f)
}

// Export returns d in the export format: schema set, no server state.
func Export(d *Dashboard) ([]byte, error) {
	c := clone(d)
	c.Schema, c.Version = Schema, 0
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode dashboard: %w", err)
	}
	return append(b, '\n'), nil
}

// asValidation reports whether err is a client error.
func asValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}
