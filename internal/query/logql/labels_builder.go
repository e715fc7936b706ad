package logql

import (
	"sort"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// Error label names and values set by the pipeline, as Loki names them.
const (
	ErrorLabel        = "__error__"
	ErrorDetailsLabel = "__error_details__"

	errJSON        = "JSONParserErr"
	errLogfmt      = "LogfmtParserErr"
	errLabelFilter = "LabelFilterErr"
	errSample      = "SampleExtractionErr"
	errTemplate    = "TemplateFormatErr"
	errUnpack      = "JSONParserErr"
)

// Where a label came from.
const (
	srcStream uint8 = iota
	srcMeta
	srcParsed
	srcPlaceholder // an empty value a parser sets before extracting; parsers may overwrite it
)

type lbl struct {
	name, value string
	src         uint8
}

// labelsBuilder holds the labels of the line being processed. It is reset per
// line and reuses its storage, so processing allocates nothing for labels
// that are substrings of the line.
type labelsBuilder struct {
	ls         []lbl
	stream     labels.Labels
	err        string
	errDetails string
	sorted     bool
	scratch    []labels.Label
	// filter, when set, restricts hash, equal and labels to a grouping.
	filter *labelFilter
	// need, when set, lists the only labels parsers have to extract.
	need map[string]struct{}
	// mask has bit nameBit(n) set for every name ever added since reset, so
	// most lookups of absent names skip the linear scan.
	mask uint64
}

// labelFilter selects the labels of a by/without grouping.
type labelFilter struct {
	without bool
	names   map[string]struct{}
	sorted  []string
}

func newLabelFilter(g *Grouping) *labelFilter {
	if g == nil {
		return nil
	}
	f := &labelFilter{without: g.Without, names: make(map[string]struct{}, len(g.Labels))}
	for _, n := range g.Labels {
		if _, dup := f.names[n]; !dup {
			f.sorted = append(f.sorted, n)
		}
		f.names[n] = struct{}{}
	}
	sort.Strings(f.sorted)
	return f
}

func (f *labelFilter) keeps(name string) bool {
	_, ok := f.names[name]
	return ok != f.without
}

func nameBit(n string) uint64 {
	if n == "" {
		return 1
	}
	return 1 << ((uint(len(n))*7 + uint(n[0]) + uint(n[len(n)-1])*3) & 63)
}

func (b *labelsBuilder) reset(stream, meta labels.Labels) {
	b.ls = b.ls[:0]
	b.stream = stream
	b.err, b.errDetails = "", ""
	b.mask = 0
	stream.Range(func(l labels.Label) {
		b.ls = append(b.ls, lbl{name: l.Name, value: l.Value, src: srcStream})
		b.mask |= nameBit(l.Name)
	})
	meta.Range(func(l labels.Label) {
		b.set(l.Name, l.Value, srcMeta)
	})
	b.sorted = false
}

// baseHas reports whether the stream labels contain name (parsed labels
// colliding with them get the _extracted suffix).
func (b *labelsBuilder) baseHas(name string) bool {
	if b.mask&nameBit(name) == 0 {
		return false
	}
	for i := range b.ls {
		if b.ls[i].src == srcStream && b.ls[i].name == name {
			return true
		}
	}
	return false
}

func (b *labelsBuilder) get(name string) (string, bool) {
	switch name {
	case ErrorLabel:
		return b.err, b.err != ""
	case ErrorDetailsLabel:
		return b.errDetails, b.errDetails != ""
	}
	if b.mask&nameBit(name) == 0 {
		return "", false
	}
	for i := range b.ls {
		if b.ls[i].name == name {
			return b.ls[i].value, true
		}
	}
	return "", false
}

func (b *labelsBuilder) set(name, value string, src uint8) {
	switch name {
	case ErrorLabel:
		b.err = value
		return
	case ErrorDetailsLabel:
		b.errDetails = value
		return
	}
	bit := nameBit(name)
	if b.mask&bit != 0 {
		for i := range b.ls {
			if b.ls[i].name == name {
				b.ls[i].value = value
				b.ls[i].src = src
				return
			}
		}
	}
	b.mask |= bit
	b.ls = append(b.ls, lbl{name: name, value: value, src: src})
	b.sorted = false
}

// addParsed sets a label extracted by a parser (its name already carries
// the _extracted suffix if needed). When a parser already extracted the same
// name for this line, the first value is kept, as the Loki docs specify.
func (b *labelsBuilder) addParsed(name, value string) {
	if b.need != nil {
		if _, ok := b.need[name]; !ok {
			return
		}
	}
	bit := nameBit(name)
	if b.mask&bit != 0 {
		for i := range b.ls {
			if b.ls[i].name == name {
				if b.ls[i].src == srcParsed {
					return
				}
				b.ls[i].value = value
				b.ls[i].src = srcParsed
				return
			}
		}
	}
	if name == ErrorLabel || name == ErrorDetailsLabel {
		return
	}
	b.mask |= bit
	b.ls = append(b.ls, lbl{name: name, value: value, src: srcParsed})
	b.sorted = false
}

func (b *labelsBuilder) del(name string) {
	switch name {
	case ErrorLabel:
		b.err = ""
		return
	case ErrorDetailsLabel:
		b.errDetails = ""
		return
	}
	for i := range b.ls {
		if b.ls[i].name == name {
			b.ls = append(b.ls[:i], b.ls[i+1:]...)
			return
		}
	}
}

func (b *labelsBuilder) hasErr() bool { return b.err != "" }

func (b *labelsBuilder) setErr(kind, details string) {
	b.err = kind
	b.errDetails = details
}

func (b *labelsBuilder) sortLabels() {
	if b.sorted {
		return
	}
	ls := b.ls
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].name < ls[j-1].name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	b.sorted = true
}

// visit calls fn for every label in name order, error labels included when
// set. Labels with empty values are kept: parsers only create them on
// purpose (a JSON "" value, logfmt --keep-empty), as Loki does.
func (b *labelsBuilder) visit(fn func(name, value string)) {
	if b.filter != nil && !b.filter.without {
		// by (...): look the few grouping labels up in name order.
		for _, n := range b.filter.sorted {
			if v, ok := b.get(n); ok {
				fn(n, v)
			}
		}
		return
	}
	if b.filter != nil {
		inner := fn
		fn = func(n, v string) {
			if b.filter.keeps(n) {
				inner(n, v)
			}
		}
	}
	b.sortLabels()
	errDone := false
	emitErr := func() {
		if b.err != "" {
			fn(ErrorLabel, b.err)
		}
		if b.errDetails != "" {
			fn(ErrorDetailsLabel, b.errDetails)
		}
		errDone = true
	}
	for i := range b.ls {
		if !errDone && b.ls[i].name > ErrorDetailsLabel {
			emitErr()
		}
		fn(b.ls[i].name, b.ls[i].value)
	}
	if !errDone {
		emitErr()
	}
}

// hash returns a hash of the labels.
func (b *labelsBuilder) hash(d *xxhash.Digest) uint64 {
	d.Reset()
	sep := []byte{0xff}
	b.visit(func(n, v string) {
		_, _ = d.WriteString(n)
		_, _ = d.Write(sep)
		_, _ = d.WriteString(v)
		_, _ = d.Write(sep)
	})
	return d.Sum64()
}

// equal reports whether the builder holds exactly ls.
func (b *labelsBuilder) equal(ls labels.Labels) bool {
	i, n, ok := 0, ls.Len(), true
	cur := b.scratch[:0]
	ls.Range(func(l labels.Label) { cur = append(cur, l) })
	b.scratch = cur
	b.visit(func(name, value string) {
		if !ok {
			return
		}
		if i >= n || cur[i].Name != name || cur[i].Value != value {
			ok = false
			return
		}
		i++
	})
	return ok && i == n
}

// labels returns the current labels as a sorted labels.Labels (allocates).
func (b *labelsBuilder) labels() labels.Labels {
	var sb labels.ScratchBuilder
	b.visit(func(n, v string) { sb.Add(n, v) })
	return sb.Labels()
}
