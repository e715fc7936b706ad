package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// LogStyle is how a service writes its log file.
type LogStyle int

const (
	// StyleJSON writes one JSON object per line.
	StyleJSON LogStyle = iota
	// StyleLogfmt writes key=value pairs per line.
	StyleLogfmt
	// StyleLogback writes Java Logback-style text; errors carry a
	// multi-line stack trace.
	StyleLogback
)

// logWriter appends one service's log lines to its file. Safe for
// concurrent use.
type logWriter struct {
	service string
	style   LogStyle
	now     func() time.Time

	mu  sync.Mutex // guards f and buf
	f   *os.File
	buf bytes.Buffer
}

func openLog(path, service string, style LogStyle) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return &logWriter{service: service, style: style, f: f, now: time.Now}, nil
}

// Close closes the file.
func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Log writes one record with the trace and span ids of ctx's span. kv are
// alternating keys and values. err, when not nil, is rendered in the
// style's way (a field, or a Java stack trace).
func (w *logWriter) Log(ctx context.Context, level, msg string, err error, kv ...any) {
	sc := trace.SpanContextFromContext(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Reset()
	formatRecord(&w.buf, w.style, w.now(), w.service, level, msg, sc, err, kv)
	_, _ = w.f.Write(w.buf.Bytes())
}

// formatRecord renders one record, ending in a newline.
func formatRecord(b *bytes.Buffer, style LogStyle, ts time.Time, service, level, msg string, sc trace.SpanContext, err error, kv []any) {
	switch style {
	case StyleJSON:
		m := map[string]any{"ts": ts.UTC().Format(time.RFC3339Nano), "level": level, "service": service, "msg": msg}
		if sc.IsValid() {
			m["trace_id"], m["span_id"] = sc.TraceID().String(), sc.SpanID().String()
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		if err != nil {
			m["error"] = err.Error()
		}
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(m) // values are strings and numbers
	case StyleLogfmt:
		b.WriteString("ts=" + ts.UTC().Format(time.RFC3339Nano) + " level=" + level + " service=" + service + " msg=" + logfmtValue(msg))
		if sc.IsValid() {
			b.WriteString(" trace_id=" + sc.TraceID().String() + " span_id=" + sc.SpanID().String())
		}
		for i := 0; i+1 < len(kv); i += 2 {
			b.WriteString(" " + fmt.Sprint(kv[i]) + "=" + logfmtValue(fmt.Sprint(kv[i+1])))
		}
		if err != nil {
			b.WriteString(" error=" + logfmtValue(err.Error()))
		}
		b.WriteByte('\n')
	default:
		// 2026-11-24 16:43:26.123 [grpc-exec-3] ERROR shop.checkout.OrderService - msg k=v trace_id=… span_id=…
		fmt.Fprintf(b, "%s [grpc-exec-%d] %-5s shop.%s.%sService - %s", ts.Format("2006-01-02 15:04:05.000"),
			1+int(sc.SpanID()[7])%8, strings.ToUpper(level), service, strings.ToUpper(service[:1])+service[1:], msg)
		for i := 0; i+1 < len(kv); i += 2 {
			fmt.Fprintf(b, " %v=%v", kv[i], kv[i+1])
		}
		if sc.IsValid() {
			b.WriteString(" trace_id=" + sc.TraceID().String() + " span_id=" + sc.SpanID().String())
		}
		b.WriteByte('\n')
		if err != nil {
			writeStackTrace(b, service, err)
		}
	}
}

// writeStackTrace renders err as a Java exception with frames of the
// imaginary shop code base, so multi-line joining has real work to do.
func writeStackTrace(b *bytes.Buffer, service string, err error) {
	class := "shop.common.ServiceException"
	var fe *faultError
	if asFault(err, &fe) && fe.javaClass != "" {
		class = fe.javaClass
	}
	cls := strings.ToUpper(service[:1]) + service[1:]
	fmt.Fprintf(b, "%s: %s\n", class, err.Error())
	fmt.Fprintf(b, "\tat shop.%s.%sRepository.execute(%sRepository.java:%d)\n", service, cls, cls, 88)
	fmt.Fprintf(b, "\tat shop.%s.%sService.handle(%sService.java:%d)\n", service, cls, cls, 142)
	b.WriteString("\tat shop.rpc.ServerCallHandler.invoke(ServerCallHandler.java:57)\n")
	b.WriteString("\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1144)\n")
	b.WriteString("\tat java.base/java.lang.Thread.run(Thread.java:1583)\n")
	if fe != nil && fe.cause != "" {
		fmt.Fprintf(b, "Caused by: %s\n", fe.cause)
		fmt.Fprintf(b, "\tat shop.db.ConnectionPool.borrow(ConnectionPool.java:%d)\n", 201)
		b.WriteString("\t... 5 more\n")
	}
}

// logfmtValue quotes v when it holds spaces, quotes or '='.
func logfmtValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \"=\t\n") {
		return strconv.Quote(v)
	}
	return v
}
