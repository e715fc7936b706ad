package gen

import (
	"bytes"
	"errors"
	"strconv"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// Parser turns generated records into events. Strings in the events alias
// the parser's arena, which is reset by Reset; not safe for concurrent use.
type Parser struct {
	arena  []byte
	attrs  []model.Attr
	key    []byte
	labels map[string]labels.Labels
}

// NewParser returns a parser.
func NewParser() *Parser { return &Parser{labels: map[string]labels.Labels{}} }

// Reset forgets the memory of previously parsed events (the caller must be
// done with them, e.g. after Append returned).
func (p *Parser) Reset() { p.arena, p.attrs = p.arena[:0], p.attrs[:0] }

func (p *Parser) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(p.arena)-len(p.arena) < len(b) {
		p.arena = make([]byte, 0, max(1<<20, len(b)))
	}
	s := len(p.arena)
	p.arena = append(p.arena, b...)
	out := p.arena[s:len(p.arena):len(p.arena)]
	return unsafe.String(&out[0], len(out))
}

func (p *Parser) stream(svc string) labels.Labels {
	ls, ok := p.labels[svc]
	if !ok {
		ns, name, _ := cutByte(svc, '/')
		ls = labels.FromStrings("namespace", ns, "service", name)
		p.labels[svc] = ls
	}
	return ls
}

func cutByte(s string, c byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Parse decodes a record into e (tenant "bench", signal log).
func (p *Parser) Parse(rec Record, e *model.Event) error {
	*e = model.Event{Tenant: "bench", Signal: model.SignalLog, Stream: p.stream(rec.Service), Time: rec.Time}
	start := len(p.attrs)
	line := rec.Line
	var err error
	switch {
	case len(line) > 0 && line[0] == '{':
		err = p.parseJSON(line, e)
	case bytes.HasPrefix(line, []byte("ts=")):
		p.parseLogfmt(line, e)
	default:
		p.parseText(line, e)
	}
	if len(p.attrs) > start {
		e.Attrs = p.attrs[start:len(p.attrs):len(p.attrs)]
	}
	return err
}

func (p *Parser) add(key []byte, v model.Value, e *model.Event) {
	switch string(key) {
	case "msg", "message":
		e.Body = v.Str
		return
	case "level":
		e.Severity = v.Str
		return
	case "trace_id":
		if id, err := model.ParseTraceID(v.Str); err == nil {
			e.TraceID = id
			return
		}
	case "span_id":
		if id, err := model.ParseSpanID(v.Str); err == nil {
			e.SpanID = id
			return
		}
	case "ts", "service":
		return // the record time and the stream label already hold them
	}
	p.attrs = append(p.attrs, model.Attr{Key: p.str(key), Value: v})
}

func (p *Parser) parseLogfmt(line []byte, e *model.Event) {
	for len(line) > 0 {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		eq := bytes.IndexByte(line, '=')
		if eq <= 0 {
			return
		}
		key := line[:eq]
		line = line[eq+1:]
		var val []byte
		if len(line) > 0 && line[0] == '"' {
			end := bytes.IndexByte(line[1:], '"')
			if end < 0 {
				end = len(line) - 1
			}
			val = line[1 : end+1]
			line = line[min(end+2, len(line)):]
		} else {
			end := bytes.IndexByte(line, ' ')
			if end < 0 {
				end = len(line)
			}
			val = line[:end]
			line = line[end:]
		}
		p.add(key, p.typed(val), e)
	}
}

// typed stores numbers as numbers, the rest as strings.
func (p *Parser) typed(v []byte) model.Value {
	if len(v) > 0 && len(v) < 20 && (v[0] >= '0' && v[0] <= '9' || v[0] == '-') {
		s := unsafe.String(&v[0], len(v))
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return model.IntValue(i)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return model.FloatValue(f)
		}
	}
	return model.StringValue(p.str(v))
}

func (p *Parser) parseText(line []byte, e *model.Event) {
	e.Body = p.str(line)
	if len(line) > 29 {
		lvl := bytes.TrimSpace(line[24:29])
		e.Severity = p.str(bytes.ToLower(lvl))
	}
	if i := bytes.Index(line, []byte("trace_id=")); i >= 0 && len(line) >= i+9+32 {
		if id, err := model.ParseTraceID(string(line[i+9 : i+9+32])); err == nil {
			e.TraceID = id
		}
	}
}

var errJSON = errors.New("parse json: malformed")

// parseJSON flattens an object: nested keys joined with dots, arrays kept as
// raw JSON text.
func (p *Parser) parseJSON(b []byte, e *model.Event) error {
	_, err := p.jsonObject(b, 0, e)
	return err
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

func (p *Parser) jsonObject(b []byte, i int, e *model.Event) (int, error) {
	plen := len(p.key)
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, errJSON
	}
	i++
	for {
		i = skipWS(b, i)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		k, ni, err := jsonString(b, i)
		if err != nil {
			return ni, err
		}
		i = skipWS(b, ni)
		if i >= len(b) || b[i] != ':' {
			return i, errJSON
		}
		i = skipWS(b, i+1)
		p.key = p.key[:plen]
		if plen > 0 {
			p.key = append(p.key, '.')
		}
		p.key = append(p.key, k...)
		if i >= len(b) {
			return i, errJSON
		}
		switch c := b[i]; {
		case c == '{':
			if i, err = p.jsonObject(b, i, e); err != nil {
				return i, err
			}
		case c == '"':
			s, ni, err := jsonString(b, i)
			if err != nil {
				return ni, err
			}
			p.add(p.key, model.StringValue(p.str(s)), e)
			i = ni
		case c == '[':
			depth, j := 0, i
			for ; j < len(b); j++ {
				if b[j] == '[' {
					depth++
				} else if b[j] == ']' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= len(b) {
				return j, errJSON
			}
			p.add(p.key, model.StringValue(p.str(b[i:j+1])), e)
			i = j + 1
		default:
			j := i
			for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ' ' {
				j++
			}
			v := b[i:j]
			switch string(v) {
			case "true", "false":
				p.add(p.key, model.BoolValue(v[0] == 't'), e)
			case "null":
			default:
				p.add(p.key, p.typed(v), e)
			}
			i = j
		}
		p.key = p.key[:plen]
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

// jsonString returns the unescaped string at b[i] (which must be '"').
func jsonString(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, errJSON
	}
	i++
	start := i
	for i < len(b) && b[i] != '"' && b[i] != '\\' {
		i++
	}
	if i < len(b) && b[i] == '"' {
		return b[start:i], i + 1, nil
	}
	// Slow path with escapes.
	var out []byte
	out = append(out, b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return out, i + 1, nil
		case c == '\\' && i+1 < len(b):
			switch b[i+1] {
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			case 'u':
				if i+6 <= len(b) {
					if r, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 32); err == nil {
						out = append(out, string(rune(r))...)
						i += 6
						continue
					}
				}
				out = append(out, 'u')
			default:
				out = append(out, b[i+1])
			}
			i += 2
		default:
			out = append(out, c)
			i++
		}
	}
	return nil, i, errJSON
}

// Span generates the k-th OTLP-like span of trace k/6 (six spans per trace):
// a server root and client/internal children across services.
func (g *Generator) Span(k int, e *model.Event, attrs []model.Attr, p *Parser) []model.Attr {
	tr := uint64(k / 6)
	pos := k % 6
	r := rng(mix(g.seed ^ uint64(k)))
	svc := &services[int(mix(tr)%uint64(len(services)))]
	if pos > 0 {
		svc = &services[r.intn(len(services))]
	}
	ts := g.start + int64(k)*g.step
	*e = model.Event{Tenant: "bench", Signal: model.SignalSpan, Stream: p.stream(svc.name), Time: ts,
		TraceID: TraceIDOf(g.seed, tr), Name: svc.ops[r.intn(len(svc.ops))],
		Kind: model.SpanKindServer, StatusCode: model.StatusOK, Duration: int64(time.Duration(r.intn(200000)) * time.Microsecond / 100)}
	sid := mix(uint64(k) + 1)
	for i := range 8 {
		e.SpanID[i] = byte(sid >> (8 * i))
	}
	if pos > 0 {
		psid := mix(uint64(k-pos) + 1)
		for i := range 8 {
			e.ParentSpanID[i] = byte(psid >> (8 * i))
		}
		e.Kind = model.SpanKindClient
	}
	if r.intn(50) == 0 {
		e.StatusCode, e.StatusMessage = model.StatusError, "upstream connect error"
	}
	start := len(attrs)
	attrs = append(attrs,
		model.Attr{Key: "http.request.method", Value: model.StringValue([]string{"GET", "POST"}[r.intn(2)])},
		model.Attr{Key: "http.route", Value: model.StringValue("/api/v1/" + []string{"products", "cart", "orders", "users"}[r.intn(4)] + "/{id}")},
		model.Attr{Key: "http.response.status_code", Value: model.IntValue(int64([]int{200, 200, 200, 201, 404, 500}[r.intn(6)]))},
		model.Attr{Key: "server.address", Value: model.StringValue(svc.name[len(svc.name)-min(len(svc.name), 8):] + ".svc.cluster.local")},
		model.Attr{Key: "network.peer.address", Value: model.StringValue("10.0." + strconv.Itoa(r.intn(256)) + "." + strconv.Itoa(r.intn(256)))},
		model.Attr{Key: "user_agent.original", Value: model.StringValue("okhttp/4.12.0")},
		model.Attr{Key: "app.user_id", Value: model.StringValue("u" + strconv.Itoa(r.intn(50000)))},
		model.Attr{Key: "app.order_id", Value: model.IntValue(int64(r.intn(1000000)))},
		model.Attr{Key: "k8s.pod.name", Value: model.StringValue(svc.name[len(svc.name)-min(len(svc.name), 8):] + "-7d9f8c-" + strconv.Itoa(r.intn(6)))},
		model.Attr{Key: "db.system", Value: model.StringValue([]string{"postgresql", "redis", ""}[r.intn(3)])},
	)
	e.Attrs = attrs[start:len(attrs):len(attrs)]
	return attrs
}

// SpanSize estimates the OTLP protobuf size of a span event, for bytes-per-
// span figures (intrinsics plus attribute keys and values with framing).
func SpanSize(e *model.Event) int {
	n := 16 + 8 + 8 + len(e.Name) + 8 + 8 + 2 + 2 + len(e.StatusMessage) + 24
	for _, a := range e.Attrs {
		n += len(a.Key) + 6
		if a.Value.Type == model.TypeString {
			n += len(a.Value.Str)
		} else {
			n += 8
		}
	}
	// Resource attributes repeated per span in typical exports.
	return n + 120
}
