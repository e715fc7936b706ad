package logstore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
)

// Appender is the part of the event store a Writer needs.
type Appender interface {
	Append(ctx context.Context, rows []model.Event) error
	// CheckTime reports whether a row at t (Unix ns) would be accepted.
	CheckTime(t int64) error
}

// BatchIDHeader is the HTTP header (and gRPC metadata key, lower-cased)
// carrying an agent's batch id.
const BatchIDHeader = "X-Sightline-Batch-Id"

type batchIDKey struct{}

// WithBatchID returns ctx carrying a batch id for Writer.Write.
func WithBatchID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, batchIDKey{}, id)
}

// BatchIDFrom returns the batch id in ctx: one set by WithBatchID, or the
// x-sightline-batch-id gRPC metadata.
func BatchIDFrom(ctx context.Context) string {
	if id, ok := ctx.Value(batchIDKey{}).(string); ok {
		return id
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-sightline-batch-id"); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// MaxBatchIDBytes bounds a batch id.
const MaxBatchIDBytes = 128

// Writer appends rows to the event store, translating the store's errors
// into failure kinds, and drops batches whose id it has already stored.
//
// Exactly-once bound: the ids of the last MaxBatchIDs batches are kept in an
// LRU; the first row of each batch also stores its id in BatchIDField, and
// LoadBatchIDs refills the LRU from the last RecoverWindow of rows at
// start. A retry is thus recognised if it arrives within MaxBatchIDs
// batches and (across restarts) within RecoverWindow of the original.
type Writer struct {
	app Appender

	mu       sync.Mutex
	ids      map[string]*list.Element // guarded by mu
	order    *list.List               // guarded by mu; front = newest
	inflight map[string]bool          // guarded by mu
	max      int

	rows, dups, refused prometheus.Counter
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	// MaxBatchIDs bounds the remembered batch ids. Default 100000.
	MaxBatchIDs int
	Registerer  prometheus.Registerer
}

// NewWriter returns a writer over app.
func NewWriter(app Appender, o WriterOptions) *Writer {
	if o.MaxBatchIDs <= 0 {
		o.MaxBatchIDs = 100_000
	}
	w := &Writer{app: app, ids: map[string]*list.Element{}, order: list.New(), inflight: map[string]bool{}, max: o.MaxBatchIDs}
	w.rows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sightline_logs_ingested_rows_total", Help: "Log rows stored, all protocols.",
	})
	w.dups = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sightline_logs_duplicate_batches_total", Help: "Agent batches acknowledged without storing because their batch id was already stored.",
	})
	w.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sightline_logs_refused_rows_total", Help: "Log rows dropped at ingest because their timestamp is outside the accepted window (events.retention, events.max_future).",
	})
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.rows, w.dups, w.refused)
	}
	return w
}

// FieldValuer lists a field's values; *eventstore.Store implements it.
type FieldValuer interface {
	FieldValues(ctx context.Context, q eventstore.Query, field string, limit int) ([]eventstore.ValueCount, eventstore.QueryStats, error)
}

// RecoverWindow is how far back LoadBatchIDs looks.
const RecoverWindow = 6 * time.Hour

// LoadBatchIDs remembers the batch ids stored in the last RecoverWindow
// (every tenant listed in tenants; "" is the default tenant).
func (w *Writer) LoadBatchIDs(ctx context.Context, st FieldValuer, now time.Time, tenants ...string) error {
	if len(tenants) == 0 {
		tenants = []string{""}
	}
	for _, t := range tenants {
		vals, _, err := st.FieldValues(ctx, eventstore.Query{
			Tenant: t, Signals: []model.Signal{model.SignalLog},
			Start: now.Add(-RecoverWindow).UnixNano(), End: now.Add(time.Hour).UnixNano(),
		}, BatchIDField, w.max)
		if err != nil {
			return fmt.Errorf("load batch ids: %w", err)
		}
		w.mu.Lock()
		for _, v := range vals {
			w.rememberLocked(t + "\x00" + v.Value)
		}
		w.mu.Unlock()
	}
	return nil
}

func (w *Writer) rememberLocked(key string) {
	if e, ok := w.ids[key]; ok {
		w.order.MoveToFront(e)
		return
	}
	w.ids[key] = w.order.PushFront(key)
	for w.order.Len() > w.max {
		old := w.order.Back()
		w.order.Remove(old)
		delete(w.ids, old.Value.(string))
	}
}

// Write stores rows (all of one tenant when a batch id is in ctx). Rows
// whose time the store would refuse are dropped and counted; when every row
// is refused Write returns an error naming the first. With a batch id
// already stored it does nothing and returns nil; while the same id is
// being stored by another request it returns an overload error so the
// client retries.
func (w *Writer) Write(ctx context.Context, rows []model.Event) error {
	if len(rows) == 0 {
		return nil
	}
	var firstErr error
	bad := 0
	for i := range rows {
		if err := w.app.CheckTime(rows[i].Time); err != nil {
			bad++
			if firstErr == nil {
				firstErr = fmt.Errorf("row %d at %s: %w", i, time.Unix(0, rows[i].Time).UTC().Format(time.RFC3339Nano), err)
			}
		}
	}
	if bad > 0 {
		w.refused.Add(float64(bad))
		if bad == len(rows) {
			return translate(firstErr)
		}
		kept := make([]model.Event, 0, len(rows)-bad)
		for i := range rows {
			if w.app.CheckTime(rows[i].Time) == nil {
				kept = append(kept, rows[i])
			}
		}
		rows = kept
	}
	id := BatchIDFrom(ctx)
	if len(id) > MaxBatchIDBytes {
		return fmt.Errorf("batch id of %d bytes exceeds %d (%s): %w", len(id), MaxBatchIDBytes, BatchIDHeader, failure.ErrInvalid)
	}
	key := rows[0].Tenant + "\x00" + id
	if id != "" {
		w.mu.Lock()
		if _, ok := w.ids[key]; ok {
			w.mu.Unlock()
			w.dups.Inc()
			return nil
		}
		if w.inflight[key] {
			w.mu.Unlock()
			return fmt.Errorf("batch %q is being stored by another request: %w", id, failure.ErrOverloaded)
		}
		w.inflight[key] = true
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			delete(w.inflight, key)
			w.mu.Unlock()
		}()
		first := &rows[0]
		first.Attrs = append(first.Attrs[:len(first.Attrs):len(first.Attrs)], model.Attr{Key: BatchIDField, Value: model.StringValue(id)})
	}
	if err := w.app.Append(ctx, rows); err != nil {
		return translate(err)
	}
	w.rows.Add(float64(len(rows)))
	if id != "" {
		w.mu.Lock()
		w.rememberLocked(key)
		w.mu.Unlock()
	}
	return nil
}

// translate maps the event store's sentinels to failure kinds.
func translate(err error) error {
	switch {
	case errors.Is(err, eventstore.ErrOverloaded):
		return fmt.Errorf("store log rows: %w: %w", err, failure.ErrOverloaded)
	case errors.Is(err, eventstore.ErrTooOld), errors.Is(err, eventstore.ErrTooNew):
		return fmt.Errorf("store log rows: %w: %w", err, failure.ErrInvalid)
	case errors.Is(err, eventstore.ErrClosed):
		return fmt.Errorf("store log rows: %w: %w", err, failure.ErrUnavailable)
	}
	return fmt.Errorf("store log rows: %w", err)
}
