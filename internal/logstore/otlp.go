package logstore

import (
	"context"
	"encoding/json"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sightline/sightline/internal/model"
)

// OTLPSink stores OTLP logs; it implements the OTLP receiver's LogsSink.
type OTLPSink struct {
	Schema *Schema
	Writer *Writer
	// Tenant returns the tenant of a request ("" when nil).
	Tenant func(ctx context.Context) string
	// Now stamps records without any timestamp; default time.Now.
	Now func() time.Time
}

// ConsumeLogs converts and stores one OTLP request.
func (s *OTLPSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	tenant := ""
	if s.Tenant != nil {
		tenant = s.Tenant(ctx)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	rows := s.Schema.ConvertOTLP(tenant, ld, now().UnixNano())
	return s.Writer.Write(ctx, rows)
}

// ConvertOTLP turns OTLP logs into rows. Resource attributes that are
// stream keys form the stream; other resource, scope and record attributes
// become attributes (record attributes win on a clash). A record without a
// timestamp gets its observed time, else now.
func (s *Schema) ConvertOTLP(tenant string, ld plog.Logs, now int64) []model.Event {
	rows := make([]model.Event, 0, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				t := int64(lr.Timestamp())
				if t == 0 {
					t = int64(lr.ObservedTimestamp())
				}
				if t == 0 {
					t = now
				}
				r := s.NewRecord(tenant, t)
				res.Range(func(k string, v pcommon.Value) bool { r.addOTLP(k, v); return true })
				if scope.Name() != "" {
					r.AddString("scope_name", scope.Name())
				}
				if scope.Version() != "" {
					r.AddString("scope_version", scope.Version())
				}
				scope.Attributes().Range(func(k string, v pcommon.Value) bool { r.addOTLP(k, v); return true })
				lr.Attributes().Range(func(k string, v pcommon.Value) bool { r.addOTLP(k, v); return true })
				sev := lr.SeverityText()
				if sev == "" && lr.SeverityNumber() != plog.SeverityNumberUnspecified {
					sev = severityName(lr.SeverityNumber())
				}
				if sev != "" {
					r.SetSeverity(sev)
				}
				if lr.SeverityNumber() != plog.SeverityNumberUnspecified {
					r.Add("severity_number", model.IntValue(int64(lr.SeverityNumber())))
				}
				if tid := lr.TraceID(); !tid.IsEmpty() {
					r.ev.TraceID = model.TraceID(tid)
				}
				if sid := lr.SpanID(); !sid.IsEmpty() {
					r.ev.SpanID = model.SpanID(sid)
				}
				if lr.Flags() != 0 {
					r.Add("flags", model.IntValue(int64(lr.Flags())))
				}
				if en := lr.EventName(); en != "" {
					r.AddString("event_name", en)
				}
				r.SetBody(bodyText(lr.Body()))
				rows = append(rows, r.Event())
			}
		}
	}
	return rows
}

// addOTLP adds an OTLP attribute; maps are flattened, slices and bytes kept
// as text.
func (r *Record) addOTLP(k string, v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		r.Add(k, model.StringValue(v.Str()))
	case pcommon.ValueTypeInt:
		r.Add(k, model.IntValue(v.Int()))
	case pcommon.ValueTypeDouble:
		r.Add(k, model.FloatValue(v.Double()))
	case pcommon.ValueTypeBool:
		r.Add(k, model.BoolValue(v.Bool()))
	case pcommon.ValueTypeMap:
		r.AddAny(k, v.Map().AsRaw(), 0)
	case pcommon.ValueTypeSlice, pcommon.ValueTypeBytes:
		r.Add(k, model.StringValue(v.AsString()))
	}
}

// bodyText renders an OTLP body as the log line: strings as is, maps and
// slices as JSON.
func bodyText(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeEmpty:
		return ""
	case pcommon.ValueTypeMap:
		b, err := json.Marshal(v.Map().AsRaw())
		if err == nil {
			return string(b)
		}
	}
	return v.AsString()
}

func severityName(n plog.SeverityNumber) string {
	switch {
	case n >= plog.SeverityNumberFatal:
		return "fatal"
	case n >= plog.SeverityNumberError:
		return "error"
	case n >= plog.SeverityNumberWarn:
		return "warn"
	case n >= plog.SeverityNumberInfo:
		return "info"
	case n >= plog.SeverityNumberDebug:
		return "debug"
	}
	return "trace"
}
