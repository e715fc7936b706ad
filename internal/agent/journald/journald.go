// Package journald reads the systemd journal by running
// `journalctl -o json --follow` and turns its entries into OTLP log
// batches: MESSAGE is the body, PRIORITY the level, _SYSTEMD_UNIT (else
// SYSLOG_IDENTIFIER) the service, _HOSTNAME the host, and
// __REALTIME_TIMESTAMP the time. Each batch carries the cursor of its last
// entry; the sink stores it with the batch, and a restart continues with
// --after-cursor from the last batch stored, so nothing is read twice or
// skipped.
//
// Running journalctl instead of reading journal files keeps the agent free
// of cgo and of the journal file format; the cost is one child process.
//
// DecodeEntry is safe for concurrent use; a Reader runs once.
package journald

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sightline/sightline/internal/agent/parse"
)

// Options configures the journald input.
type Options struct {
	// Enabled turns the input on (--journald).
	Enabled bool `yaml:"enabled"`
	// Command is the journalctl binary.
	Command string `yaml:"command"`
	// Units limits the input to these systemd units (journalctl --unit).
	Units []string `yaml:"units"`
	// Args are extra journalctl arguments (e.g. matches such as
	// _TRANSPORT=kernel, or --directory=/run/log/journal).
	Args []string `yaml:"args"`
	// StartAtEnd, on the first run (no stored cursor), starts with new
	// entries instead of reading the whole journal.
	StartAtEnd bool `yaml:"start_at_end"`
	// MaxRecords, MaxBytes and MaxWait bound a batch.
	MaxRecords int           `yaml:"max_records"`
	MaxBytes   int           `yaml:"max_bytes"`
	MaxWait    time.Duration `yaml:"max_wait"`
	// RestartDelay is the pause before journalctl is started again after
	// it exits.
	RestartDelay time.Duration `yaml:"restart_delay"`
}

// DefaultOptions returns the defaults (input disabled).
func DefaultOptions() Options {
	return Options{Command: "journalctl", StartAtEnd: true, MaxRecords: 5000, MaxBytes: 1 << 20, MaxWait: time.Second, RestartDelay: time.Second}
}

// Validate checks the options.
func (o *Options) Validate() error {
	if !o.Enabled {
		return nil
	}
	if o.Command == "" {
		return errors.New("validate journald options: command is empty")
	}
	if o.MaxRecords < 1 || o.MaxBytes < 1 || o.MaxWait <= 0 || o.RestartDelay <= 0 {
		return errors.New("validate journald options: max_records, max_bytes, max_wait and restart_delay must be positive")
	}
	return nil
}

// Entry is one journal entry.
type Entry struct {
	Cursor   string
	Time     time.Time // zero when absent
	Message  string
	Priority int // 0 (emerg) … 7 (debug); -1 when absent
	Unit     string
	Hostname string
	// Identifier is SYSLOG_IDENTIFIER; PID is _PID; Transport _TRANSPORT.
	Identifier, PID, Transport string
}

// levels maps syslog priorities to level names.
var levels = [...]string{"fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug"}

// Level returns the priority's level name ("" when absent).
func (e *Entry) Level() string {
	if e.Priority < 0 || e.Priority >= len(levels) {
		return ""
	}
	return levels[e.Priority]
}

// Service is the unit without its .service suffix, else the identifier.
func (e *Entry) Service() string {
	if e.Unit != "" {
		return strings.TrimSuffix(e.Unit, ".service")
	}
	return e.Identifier
}

// rawEntry holds the fields the input maps; encoding/json skips the rest
// without allocating for them.
type rawEntry struct {
	Cursor     json.RawMessage `json:"__CURSOR"`
	Realtime   json.RawMessage `json:"__REALTIME_TIMESTAMP"`
	Message    json.RawMessage `json:"MESSAGE"`
	Priority   json.RawMessage `json:"PRIORITY"`
	Unit       json.RawMessage `json:"_SYSTEMD_UNIT"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	PID        json.RawMessage `json:"_PID"`
	Transport  json.RawMessage `json:"_TRANSPORT"`
}

// DecodeEntry decodes one line of `journalctl -o json`. Field values are
// strings, arrays of bytes (binary or non-UTF-8 data), or arrays of those
// (a field repeated in one entry; the first is kept).
func DecodeEntry(line []byte) (Entry, error) {
	e := Entry{Priority: -1}
	var raw rawEntry
	if err := json.Unmarshal(line, &raw); err != nil {
		return e, fmt.Errorf("decode journal entry: %w", err)
	}
	var ts, prio string
	for _, f := range []struct {
		dst *string
		v   json.RawMessage
	}{{&e.Cursor, raw.Cursor}, {&ts, raw.Realtime}, {&e.Message, raw.Message}, {&prio, raw.Priority}, {&e.Unit, raw.Unit},
		{&e.Hostname, raw.Hostname}, {&e.Identifier, raw.Identifier}, {&e.PID, raw.PID}, {&e.Transport, raw.Transport}} {
		if len(f.v) == 0 {
			continue
		}
		v, err := fieldString(f.v)
		if err != nil {
			return e, err
		}
		*f.dst = v
	}
	if e.Cursor == "" {
		return e, errors.New("decode journal entry: no __CURSOR")
	}
	if ts != "" {
		us, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || us < 0 {
			return e, fmt.Errorf("decode journal entry: __REALTIME_TIMESTAMP %q is not microseconds", ts)
		}
		e.Time = time.UnixMicro(us).UTC()
	}
	if n, err := strconv.Atoi(prio); err == nil && n >= 0 && n <= 7 {
		e.Priority = n
	}
	return e, nil
}

// fieldString decodes a journal JSON field value.
func fieldString(v json.RawMessage) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !bytes.ContainsAny(v[1:len(v)-1], "\\\"") && utf8.Valid(v) {
		return string(v[1 : len(v)-1]), nil // plain string: no escapes to undo
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(v, &arr); err != nil {
		if string(v) == "null" {
			return "", nil // a field too large to show
		}
		return "", fmt.Errorf("decode journal field: %w", err)
	}
	var bs []byte
	for _, el := range arr {
		var n int
		if err := json.Unmarshal(el, &n); err == nil && n >= 0 && n <= 255 {
			bs = append(bs, byte(n))
			continue
		}
		if len(bs) == 0 { // repeated field: keep the first value
			return fieldString(el)
		}
		return "", errors.New("decode journal field: mixed array")
	}
	return string(bs), nil
}

// Sink stores batches durably (relay.Outbox implements it).
type Sink interface {
	// Resume returns the cursor stored with the last batch ("" if none).
	Resume() string
	// Put stores an OTLP ExportLogsServiceRequest (protobuf) of records
	// log records, after which the journal resumes at cursor.
	Put(ctx context.Context, logs []byte, records int, cursor string) error
}

// Reader runs journalctl and puts batches into a sink.
type Reader struct {
	opts   Options
	labels map[string]string
	log    *slog.Logger
	sink   Sink
}

// NewReader returns a reader; labels are static resource attributes
// (service aliases as the file input treats them).
func NewReader(opts Options, labels map[string]string, sink Sink, log *slog.Logger) (*Reader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reader{opts: opts, labels: labels, log: log, sink: sink}, nil
}

// Args returns journalctl's arguments to continue after cursor.
func (r *Reader) Args(cursor string) []string {
	args := []string{"--output=json", "--follow", "--no-pager", "--quiet"}
	switch {
	case cursor != "":
		args = append(args, "--after-cursor="+cursor, "--no-tail")
	case r.opts.StartAtEnd:
		args = append(args, "--lines=0")
	default:
		args = append(args, "--no-tail")
	}
	for _, u := range r.opts.Units {
		args = append(args, "--unit="+u)
	}
	return append(args, r.opts.Args...)
}

// Run reads until ctx ends, restarting journalctl when it exits.
func (r *Reader) Run(ctx context.Context) error {
	for {
		err := r.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("journalctl stopped; restarting", "err", err, "in", r.opts.RestartDelay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.opts.RestartDelay):
		}
	}
}

type line struct {
	b   []byte
	err error
}

func (r *Reader) runOnce(ctx context.Context) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.opts.Command, r.Args(r.sink.Resume())...)
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start journalctl: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start journalctl (journald.command %q): %w", r.opts.Command, err)
	}
	lines := make(chan line, 256)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(stdout, 64<<10)
		for {
			b, err := br.ReadBytes('\n')
			if len(b) > 0 && b[len(b)-1] == '\n' {
				select {
				case lines <- line{b: b}:
				case <-cctx.Done():
					return
				}
				continue
			}
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			select {
			case lines <- line{err: err}: // a torn last line is dropped: it is re-read after its cursor's predecessor
			case <-cctx.Done():
			}
			return
		}
	}()
	berr := r.batchLoop(cctx, lines)
	cancel()
	for range lines { // let the reader goroutine end
	}
	werr := cmd.Wait()
	if berr != nil {
		return berr
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		return fmt.Errorf("journalctl exited (%v): %s", werr, s)
	}
	return fmt.Errorf("journalctl exited: %v", werr)
}

// batchLoop turns lines into batches until the lines end or ctx ends.
func (r *Reader) batchLoop(ctx context.Context, lines <-chan line) error {
	b := newBatch(r.labels)
	tick := time.NewTicker(min(100*time.Millisecond, r.opts.MaxWait))
	defer tick.Stop()
	flush := func() error {
		if b.n == 0 {
			return nil
		}
		payload, err := b.marshal()
		if err != nil {
			return err
		}
		if err := r.sink.Put(ctx, payload, b.n, b.cursor); err != nil {
			return err
		}
		b = newBatch(r.labels)
		return nil
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok || l.err != nil {
				// journalctl ended: what was read is complete.
				if err := flush(); err != nil {
					return err
				}
				if !ok || errors.Is(l.err, io.EOF) {
					return nil
				}
				return fmt.Errorf("read journalctl output: %w", l.err)
			}
			e, err := DecodeEntry(l.b)
			if err != nil {
				r.log.Warn("journal entry skipped", "err", err)
				continue
			}
			b.add(&e)
			if b.n >= r.opts.MaxRecords || b.bytes >= r.opts.MaxBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-tick.C:
			if b.n > 0 && time.Since(b.started) >= r.opts.MaxWait {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			// Entries not yet put are read again after the stored cursor.
			return nil
		}
	}
}

// batch holds entries in journal order: consecutive entries of one
// (service, host) share a ResourceLogs.
type batch struct {
	labels  map[string]string
	logs    plog.Logs
	lastKey [2]string
	recs    plog.LogRecordSlice
	n       int
	bytes   int
	cursor  string
	started time.Time
}

func newBatch(labels map[string]string) *batch {
	return &batch{labels: labels, logs: plog.NewLogs()}
}

func (b *batch) add(e *Entry) {
	if b.n == 0 {
		b.started = time.Now()
	}
	key := [2]string{e.Service(), e.Hostname}
	if b.n == 0 || key != b.lastKey {
		rl := b.logs.ResourceLogs().AppendEmpty()
		attrs := rl.Resource().Attributes()
		service := key[0]
		for _, k := range []string{"service.name", "service_name", "service"} {
			if v := b.labels[k]; v != "" {
				service = v
				break
			}
		}
		if service != "" {
			attrs.PutStr("service.name", service)
		}
		if e.Hostname != "" {
			attrs.PutStr("host.name", e.Hostname)
		}
		for _, k := range slices.Sorted(maps.Keys(b.labels)) {
			switch k {
			case "service.name", "service_name", "service":
				continue
			}
			if _, set := attrs.Get(k); !set {
				attrs.PutStr(k, b.labels[k])
			}
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("sightline-agent/journald")
		b.recs, b.lastKey = sl.LogRecords(), key
	}
	lr := b.recs.AppendEmpty()
	lr.Body().SetStr(e.Message)
	now := pcommon.NewTimestampFromTime(time.Now())
	lr.SetObservedTimestamp(now)
	if !e.Time.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
	}
	if lvl := e.Level(); lvl != "" {
		lr.SetSeverityText(lvl)
		lr.SetSeverityNumber(plog.SeverityNumber(parse.LevelNumber(lvl)))
	}
	attrs := lr.Attributes()
	for _, kv := range [...][2]string{{"systemd.unit", e.Unit}, {"syslog.identifier", e.Identifier}, {"process.pid", e.PID}, {"journald.transport", e.Transport}} {
		if kv[1] != "" {
			attrs.PutStr(kv[0], kv[1])
		}
	}
	if e.Priority >= 0 {
		attrs.PutInt("syslog.priority", int64(e.Priority))
	}
	b.n++
	b.bytes += len(e.Message)
	b.cursor = e.Cursor
}

func (b *batch) marshal() ([]byte, error) {
	p, err := plogotlp.NewExportRequestFromLogs(b.logs).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("encode journal batch: %w", err)
	}
	return p, nil
}

// limitedWriter keeps the first n bytes written.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
