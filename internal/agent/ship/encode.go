package ship

import (
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sightline/sightline/internal/agent/checkpoint"
	"github.com/sightline/sightline/internal/agent/parse"
)

// ScopeName is the instrumentation scope of records the agent produces.
const ScopeName = "sightline-agent"

// Encoder accumulates records into one batch. Records of one source go to
// one ResourceLogs (resource: the source's labels and Kubernetes metadata);
// each record carries log.file.path and log.file.name attributes, its
// parsed fields, and log.iostream for container logs. Position-only records
// (dropped by a filter, or closing a source) only move the positions.
type Encoder struct {
	logs      plog.Logs
	bySource  map[uint64]plog.LogRecordSlice
	positions []checkpoint.Position
	posIndex  map[checkpoint.Key]int
	records   int
	bytes     int
	started   time.Time
}

// NewEncoder returns an empty encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.Reset()
	return e
}

// Reset empties the encoder.
func (e *Encoder) Reset() {
	e.logs = plog.NewLogs()
	e.bySource = map[uint64]plog.LogRecordSlice{}
	e.positions = nil
	e.posIndex = map[checkpoint.Key]int{}
	e.records, e.bytes = 0, 0
	e.started = time.Time{}
}

// Len returns the number of log records; Bytes their body bytes.
func (e *Encoder) Len() int { return e.records }

// Bytes returns the body bytes added so far.
func (e *Encoder) Bytes() int { return e.bytes }

// Empty reports whether nothing (not even a position) was added.
func (e *Encoder) Empty() bool { return e.records == 0 && len(e.positions) == 0 }

// Started returns when the first item was added (zero when empty).
func (e *Encoder) Started() time.Time { return e.started }

// Add appends r; now stamps the position.
func (e *Encoder) Add(r *parse.Record, now time.Time) {
	if e.started.IsZero() {
		e.started = now
	}
	p := checkpoint.Position{Path: r.Source.Path, Dev: r.Source.Dev, Ino: r.Source.Ino, FP: r.FP, Offset: r.Offset, Closed: r.Closed, Updated: now.UTC()}
	if i, ok := e.posIndex[p.Key()]; ok {
		e.positions[i] = p
	} else {
		e.posIndex[p.Key()] = len(e.positions)
		e.positions = append(e.positions, p)
	}
	if r.Drop || r.Closed || r.Mark {
		return
	}
	recs, ok := e.bySource[r.Source.ID]
	if !ok {
		rl := e.logs.ResourceLogs().AppendEmpty()
		attrs := rl.Resource().Attributes()
		for _, a := range r.Meta.Resource {
			attrs.PutStr(a.Key, a.Value)
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(ScopeName)
		recs = sl.LogRecords()
		e.bySource[r.Source.ID] = recs
	}
	lr := recs.AppendEmpty()
	lr.Body().SetStr(r.Body)
	if !r.Time.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
	}
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.Observed))
	if r.Level != "" {
		lr.SetSeverityText(r.Level)
		lr.SetSeverityNumber(plog.SeverityNumber(r.Severity))
	}
	attrs := lr.Attributes()
	attrs.EnsureCapacity(len(r.Fields) + 3)
	attrs.PutStr("log.file.path", r.Meta.Path)
	attrs.PutStr("log.file.name", filepath.Base(r.Meta.Path))
	if r.Stream != "" {
		attrs.PutStr("log.iostream", r.Stream)
	}
	for _, f := range r.Fields {
		switch v := f.Value.(type) {
		case string:
			attrs.PutStr(f.Key, v)
		case int64:
			attrs.PutInt(f.Key, v)
		case float64:
			attrs.PutDouble(f.Key, v)
		case bool:
			attrs.PutBool(f.Key, v)
		}
	}
	e.records++
	e.bytes += len(r.Body)
}

// Finish encodes the accumulated records as batch seq with id and resets
// the encoder.
func (e *Encoder) Finish(seq uint64, id string) (*Batch, error) {
	b := &Batch{Seq: seq, ID: id, Records: e.records, Positions: e.positions}
	if e.records > 0 {
		payload, err := plogotlp.NewExportRequestFromLogs(e.logs).MarshalProto()
		if err != nil {
			return nil, fmt.Errorf("encode OTLP logs: %w", err)
		}
		b.Logs = payload
	}
	e.Reset()
	return b, nil
}
