// Package parse turns tailed lines into log records: it decodes container
// runtime formats (CRI, Docker JSON) and reassembles their partial lines,
// joins multi-line records such as stack traces, parses JSON and logfmt
// into fields, extracts timestamps and levels, attaches Kubernetes metadata
// from pod log paths and static labels, and applies drop/keep filters.
//
// Every record carries the file offset just past its last line, so the
// pipeline can checkpoint exactly what it has shipped; records removed by a
// filter are still emitted, marked Drop, so their offsets move on.
//
// A Processor is not safe for concurrent use; the decoder functions are.
package parse

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/agent/checkpoint"
	"github.com/sightline/sightline/internal/agent/tail"
)

// Options configures a Processor.
type Options struct {
	// Format of the files: "auto" (container format for paths under
	// /var/log/pods or /var/log/containers, plain otherwise), "plain",
	// "cri", "docker" or "container" (CRI or Docker JSON per line).
	Format string `yaml:"format"`
	// Parse selects field parsing: "auto" (JSON for lines starting with
	// '{', logfmt when the line is key=value pairs), "json", "logfmt" or
	// "none".
	Parse     string           `yaml:"parse"`
	Multiline MultilineOptions `yaml:"multiline"`
	// Labels are static attributes added to every record's resource.
	Labels map[string]string `yaml:"-"`
	// Pods, when set, adds what the API server knows about a pod log's
	// pod (node, labels, service) to the path's metadata.
	Pods    PodLookup    `yaml:"-"`
	Filters []FilterRule `yaml:"filters"`
	// MaxPartialBytes bounds a reassembled CRI/Docker partial line.
	MaxPartialBytes int `yaml:"max_partial_bytes"`
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Format: "auto", Parse: "auto", Multiline: DefaultMultilineOptions(), MaxPartialBytes: 1 << 20}
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch o.Format {
	case "auto", "plain", "cri", "docker", "container":
	default:
		return fmt.Errorf("validate parse options: format %q is not one of auto, plain, cri, docker, container", o.Format)
	}
	switch o.Parse {
	case "auto", "json", "logfmt", "none":
	default:
		return fmt.Errorf("validate parse options: parse %q is not one of auto, json, logfmt, none", o.Parse)
	}
	if err := o.Multiline.Validate(); err != nil {
		return err
	}
	if _, err := compileFilters(o.Filters); err != nil {
		return fmt.Errorf("validate parse options: %w", err)
	}
	if o.MaxPartialBytes < 1 {
		return errors.New("validate parse options: max_partial_bytes must be positive")
	}
	return nil
}

// Attr is one resource attribute.
type Attr struct{ Key, Value string }

// Meta describes a source: the file path and resource attributes (labels,
// Kubernetes metadata). It is shared by all records of a source.
type Meta struct {
	Path     string
	Resource []Attr
}

// Record is one log record, or a position-only marker.
type Record struct {
	Source *tail.Source
	Meta   *Meta
	FP     checkpoint.Fingerprint
	// Offset is the file offset just past the record's last line.
	Offset int64
	// Drop marks a record removed by a filter (position only).
	Drop bool
	// Closed marks the end of Source (position only).
	Closed bool
	// Mark is a position-only record: where reading of Source starts.
	Mark bool

	Body     string
	Time     time.Time // zero when not found in the line
	Observed time.Time
	Level    string
	Severity int
	Stream   string
	Fields   []Field
}

// Processor turns chunks into records.
type Processor struct {
	opts    Options
	filters []filter
	now     func() time.Time
	states  map[uint64]*sourceState
}

type sourceState struct {
	meta      *Meta
	container bool
	fp        checkpoint.Fingerprint
	src       *tail.Source
	streams   map[string]*streamState // by stream ("" for plain files)
	lastEnd   int64                   // end offset of the last line seen
	commit    int64                   // offset everything before which was emitted
	out       []*Record
}

// streamState holds what is pending for one stream of a source.
type streamState struct {
	joiner       *Joiner
	joined       []Joined
	joinStart    int64 // start offset of the joiner's first held line
	rtTime       time.Time
	partial      []byte
	partialTime  time.Time
	partialStart int64
}

// NewProcessor returns a Processor; now is the clock (nil: time.Now).
func NewProcessor(opts Options, now func() time.Time) (*Processor, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	fs, _ := compileFilters(opts.Filters)
	if now == nil {
		now = time.Now
	}
	return &Processor{opts: opts, filters: fs, now: now, states: map[uint64]*sourceState{}}, nil
}

func (p *Processor) state(c tail.Chunk) *sourceState {
	src := c.Source
	st := p.states[src.ID]
	if st != nil {
		return st
	}
	st = &sourceState{src: src, streams: map[string]*streamState{}, lastEnd: c.Start, commit: c.Start}
	switch p.opts.Format {
	case "auto":
		st.container = strings.Contains(src.Path, "/log/pods/") || strings.Contains(src.Path, "/log/containers/")
	case "cri", "docker", "container":
		st.container = true
	}
	st.meta = p.meta(src.Path)
	p.states[src.ID] = st
	return st
}

func (st *sourceState) stream(name string, o MultilineOptions) *streamState {
	ss := st.streams[name]
	if ss == nil {
		j, _ := NewJoiner(o) // validated
		ss = &streamState{joiner: j}
		st.streams[name] = ss
	}
	return ss
}

// serviceKeys are the label keys that name the service, strongest first:
// whichever is set becomes the service.name resource attribute, which the
// server turns into the service_name stream label. The aliases themselves
// are not sent (one value, one place).
var serviceKeys = []string{"service.name", "service_name", "service"}

func (p *Processor) meta(path string) *Meta {
	attrs := map[string]string{}
	service := ""
	for _, k := range serviceKeys {
		if v := p.opts.Labels[k]; v != "" && service == "" {
			service = v
		}
	}
	for k, v := range p.opts.Labels {
		if !slices.Contains(serviceKeys, k) {
			attrs[k] = v
		}
	}
	if pm, ok := PodFromPath(path); ok {
		var pod *PodInfo
		if p.opts.Pods != nil {
			pod = p.opts.Pods.LookupPod(pm.Namespace, pm.Pod, pm.UID)
		}
		attrs["k8s.namespace.name"] = pm.Namespace
		attrs["k8s.pod.name"] = pm.Pod
		attrs["k8s.container.name"] = pm.Container
		if pm.UID != "" {
			attrs["k8s.pod.uid"] = pm.UID
		}
		if pm.Restart != "" {
			attrs["k8s.container.restart_count"] = pm.Restart
		}
		if pod != nil {
			if pod.UID != "" {
				attrs["k8s.pod.uid"] = pod.UID
			}
			if pod.Node != "" {
				attrs["k8s.node.name"] = pod.Node
			}
			for k, v := range pod.Labels {
				attrs["k8s.pod.label."+k] = v
			}
			if service == "" {
				service = pod.Service
			}
		}
		if service == "" {
			service = pm.Container
		}
	}
	m := &Meta{Path: path}
	// service.name goes first: it is the stream label every query starts
	// from, and a receiver that keeps only its first stream label keeps it.
	if service != "" {
		m.Resource = append(m.Resource, Attr{"service.name", service})
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		m.Resource = append(m.Resource, Attr{k, attrs[k]})
	}
	return m
}

// PodInfo is what the Kubernetes API server knows about a pod.
type PodInfo struct {
	UID    string
	Node   string
	Labels map[string]string
	// Service is the service name the pod's labels give
	// (app.kubernetes.io/name, else app), empty when none.
	Service string
}

// PodLookup finds a pod's metadata; nil when unknown. It may be called
// from the pipeline goroutine and must answer quickly.
type PodLookup interface {
	LookupPod(namespace, name, uid string) *PodInfo
}

// Process handles one chunk, calling emit for each finished record in
// order. A record's Offset is the source's commit offset: every line before
// it has been emitted (with container files, a line held for another stream
// keeps it back), so it is always safe to resume from.
func (p *Processor) Process(c tail.Chunk, emit func(*Record)) {
	st := p.states[c.Source.ID]
	if st == nil {
		// A new file at a path (rotation): the writer moved on, so what
		// older files of that path hold is complete. Emit it first to
		// keep the path's records in order.
		for _, id := range slices.Sorted(maps.Keys(p.states)) {
			if o := p.states[id]; o.src.Path == c.Source.Path {
				p.flushSource(o, emit)
			}
		}
		st = p.state(c)
	}
	st.fp = c.FP
	now := p.now()
	if len(c.Lines) == 0 && !c.Closed {
		emit(&Record{Source: c.Source, Meta: st.meta, FP: c.FP, Offset: st.commit, Mark: true})
		return
	}
	for _, l := range c.Lines {
		start := st.lastEnd
		st.lastEnd = l.Offset
		if st.container {
			if cl, err := p.decodeContainer(l.Text); err == nil {
				ss := st.stream(cl.Stream, p.opts.Multiline)
				if len(ss.partial) == 0 {
					ss.partialTime, ss.partialStart = cl.Time, start
				}
				ss.partial = append(ss.partial, cl.Msg...)
				if cl.Partial && len(ss.partial) < p.opts.MaxPartialBytes {
					continue
				}
				text, t, pstart := ss.partial, ss.partialTime, ss.partialStart
				ss.partial = nil
				p.join(st, ss, cl.Stream, text, pstart, l.Offset, t, now)
				p.emitPending(st, emit)
				continue
			}
			// Not in the runtime format: keep the line as it is.
		}
		p.join(st, st.stream("", p.opts.Multiline), "", l.Text, start, l.Offset, time.Time{}, now)
		p.emitPending(st, emit)
	}
	if c.Closed {
		st.lastEnd = max(st.lastEnd, c.Offset)
		p.flushSource(st, emit)
		emit(&Record{Source: c.Source, Meta: st.meta, FP: c.FP, Offset: st.commit, Closed: true})
		delete(p.states, c.Source.ID)
	}
}

func (p *Processor) decodeContainer(line []byte) (ContainerLine, error) {
	switch p.opts.Format {
	case "cri":
		return ParseCRI(line)
	case "docker":
		return ParseDocker(line)
	}
	return ParseContainer(line)
}

// join feeds one logical line (starting at file offset start, ending at
// end) to a stream's joiner and queues the records it completes.
func (p *Processor) join(st *sourceState, ss *streamState, stream string, text []byte, start, end int64, rt time.Time, now time.Time) {
	startsNew := !ss.joiner.Pending()
	if startsNew {
		ss.rtTime, ss.joinStart = rt, start
	}
	prevRT := ss.rtTime
	ss.joined = ss.joiner.Add(ss.joined[:0], text, end, now)
	for i, j := range ss.joined {
		// The first record completed may be the one pending before this line.
		t := rt
		if i == 0 && !startsNew {
			t = prevRT
		}
		st.out = append(st.out, p.record(st, j, t, stream))
	}
	if len(ss.joined) > 0 && ss.joiner.Pending() {
		ss.rtTime, ss.joinStart = rt, start
	}
}

// emitPending sets the commit offset on queued records and emits them.
func (p *Processor) emitPending(st *sourceState, emit func(*Record)) {
	if len(st.out) == 0 {
		return
	}
	c := st.lastEnd
	for _, ss := range st.streams {
		if ss.joiner.Pending() {
			c = min(c, ss.joinStart)
		}
		if len(ss.partial) > 0 {
			c = min(c, ss.partialStart)
		}
	}
	st.commit = max(st.commit, c)
	for _, r := range st.out {
		r.Offset = st.commit
		emit(r)
	}
	clear(st.out)
	st.out = st.out[:0]
}

// record builds the record for joined text; Offset is set by emitPending.
func (p *Processor) record(st *sourceState, j Joined, rt time.Time, stream string) *Record {
	r := &Record{Source: st.src, Meta: st.meta, FP: st.fp, Body: string(j.Text), Observed: p.now(), Stream: stream}
	r.Fields = p.parseFields(j.Text)
	var level string
	if len(r.Fields) > 0 {
		r.Time, level = FieldTimeLevel(r.Fields)
	}
	if r.Time.IsZero() || level == "" {
		t, l := TextTimeLevel(j.Text)
		if r.Time.IsZero() {
			r.Time = t
		}
		if level == "" {
			level = l
		}
	}
	if r.Time.IsZero() {
		r.Time = rt
	}
	r.Level, r.Severity = level, LevelNumber(level)
	if dropped(p.filters, j.Text, r.Fields) {
		*r = Record{Source: st.src, Meta: st.meta, FP: st.fp, Drop: true}
	}
	return r
}

func (p *Processor) parseFields(text []byte) []Field {
	switch p.opts.Parse {
	case "json":
		f, _ := ParseJSON(text)
		return f
	case "logfmt":
		f, _ := ParseLogfmt(text)
		return f
	case "auto":
		if len(text) > 0 && text[0] == '{' {
			f, _ := ParseJSON(text)
			return f
		}
		if looksLogfmt(text) {
			f, _ := ParseLogfmt(text)
			return f
		}
	}
	return nil
}

// looksLogfmt is a cheap pre-check: the first token is key=value.
func looksLogfmt(text []byte) bool {
	for i, c := range text {
		switch {
		case c == '=':
			return i > 0
		case c == ' ' || c == '\t' || c == '"' || c == '\n':
			return false
		}
	}
	return false
}

// FlushExpired emits multi-line records that waited past the flush timeout.
func (p *Processor) FlushExpired(emit func(*Record)) {
	now := p.now()
	for _, id := range slices.Sorted(maps.Keys(p.states)) {
		st := p.states[id]
		for _, name := range slices.Sorted(maps.Keys(st.streams)) {
			ss := st.streams[name]
			ss.joined = ss.joiner.FlushExpired(ss.joined[:0], now)
			for _, j := range ss.joined {
				st.out = append(st.out, p.record(st, j, ss.rtTime, name))
			}
		}
		p.emitPending(st, emit)
	}
}

// FlushAll emits every pending record (used at the end of --once runs).
func (p *Processor) FlushAll(emit func(*Record)) {
	for _, id := range slices.Sorted(maps.Keys(p.states)) {
		p.flushSource(p.states[id], emit)
	}
}

// flushSource emits everything a source holds, including unfinished
// partial container lines.
func (p *Processor) flushSource(st *sourceState, emit func(*Record)) {
	for _, name := range slices.Sorted(maps.Keys(st.streams)) {
		ss := st.streams[name]
		if len(ss.partial) > 0 {
			text := ss.partial
			ss.partial = nil
			p.join(st, ss, name, text, ss.partialStart, st.lastEnd, ss.partialTime, p.now())
		}
		ss.joined = ss.joiner.Flush(ss.joined[:0])
		for _, j := range ss.joined {
			st.out = append(st.out, p.record(st, j, ss.rtTime, name))
		}
	}
	p.emitPending(st, emit)
}
