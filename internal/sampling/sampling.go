// Package sampling makes tail-based keep/drop decisions per trace: a
// trace is kept when it has a span with status ERROR (KeepErrors), a span
// at least SlowerThan long, or when its trace id falls under the
// probabilistic Rate (a hash of the id, so every span of a trace and every
// replica decides alike).
//
// Rows wait up to DecisionWait after their trace's first row arrived; then
// the trace is decided and kept rows are passed to the next stage. Memory
// bound: at most MaxBufferedBytes of rows (model.Event.Size) are held; when a
// new batch would exceed it, the oldest traces are decided early. A decided
// trace's verdict is remembered (up to MaxDecisions ids, about 60 bytes
// each) so late spans follow it. Traces are told apart by tenant and id:
// two tenants sending the same trace id get separate decisions.
//
// With Rate 1 (the default) everything is kept and rows pass straight
// through without buffering: acknowledgement then still means "stored".
// With sampling on, an acknowledged span is durable only once its trace is
// decided; a crash loses at most DecisionWait of buffered rows.
//
// A *Sampler is safe for concurrent use.
package sampling

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/model"
)

// Next receives the kept rows.
type Next func(ctx context.Context, rows []model.Event) error

// Options configure a Sampler.
type Options struct {
	// Rate is the share of traces kept by chance, 0..1. Default 1.
	Rate float64
	// KeepErrors keeps every trace with an error span.
	KeepErrors bool
	// SlowerThan keeps every trace with a span at least this long (0 = off).
	SlowerThan time.Duration
	// DecisionWait is how long a trace's rows are held. Default 10s.
	DecisionWait time.Duration
	// MaxBufferedBytes bounds the rows held. Default 64 MiB.
	MaxBufferedBytes int64
	// MaxDecisions bounds the remembered verdicts. Default 100k.
	MaxDecisions int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultOptions keep everything.
func DefaultOptions() Options {
	return Options{Rate: 1, KeepErrors: true, DecisionWait: 10 * time.Second, MaxBufferedBytes: 64 << 20, MaxDecisions: 100_000}
}

// Validate reports invalid settings.
func (o Options) Validate() error {
	if math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > 1 {
		return errors.New("validate sampling options: rate must be within 0..1")
	}
	if o.SlowerThan < 0 || o.DecisionWait < 0 || o.MaxBufferedBytes < 0 || o.MaxDecisions < 0 {
		return errors.New("validate sampling options: negative setting")
	}
	return nil
}

// traceKey names a trace of a tenant: tenants may reuse trace ids, and
// their traces are decided apart.
type traceKey struct {
	tenant string
	id     model.TraceID
}

type pendingTrace struct {
	key   traceKey
	first time.Time
	rows  []model.Event
	bytes int64
	elem  *list.Element
}

// Sampler buffers rows per trace and forwards the kept ones.
type Sampler struct {
	opts Options
	next Next

	mu       sync.Mutex
	traces   map[traceKey]*pendingTrace // guarded by mu
	order    *list.List                 // guarded by mu: *pendingTrace, oldest first
	bytes    int64                      // guarded by mu
	verdicts map[traceKey]bool          // guarded by mu
	vorder   []traceKey                 // guarded by mu: ring of verdict ids
	vpos     int                        // guarded by mu

	kept, dropped prometheus.Counter
	forwardErrors prometheus.Counter

	started atomic.Bool
	stop    chan struct{}
	done    chan struct{}
}

// New returns a sampler forwarding kept rows to next. Call Start for the
// decision loop (not needed with Rate 1) and Close to decide everything
// held.
func New(opts Options, next Next, reg prometheus.Registerer) (*Sampler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	d := DefaultOptions()
	if opts.DecisionWait == 0 {
		opts.DecisionWait = d.DecisionWait
	}
	if opts.MaxBufferedBytes == 0 {
		opts.MaxBufferedBytes = d.MaxBufferedBytes
	}
	if opts.MaxDecisions == 0 {
		opts.MaxDecisions = d.MaxDecisions
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sampler{
		opts: opts, next: next,
		traces: map[traceKey]*pendingTrace{}, order: list.New(), verdicts: map[traceKey]bool{},
		kept:          prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_sampling_traces_kept_total", Help: "Traces kept by tail sampling."}),
		dropped:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_sampling_traces_dropped_total", Help: "Traces dropped by tail sampling."}),
		forwardErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_sampling_forward_errors_total", Help: "Sampled batches the store refused."}),
		stop:          make(chan struct{}), done: make(chan struct{}),
	}
	if reg != nil {
		reg.MustRegister(s.kept, s.dropped, s.forwardErrors)
	}
	return s, nil
}

// PassThrough reports whether every row is kept without buffering.
func (s *Sampler) PassThrough() bool { return s.opts.Rate >= 1 }

// Start runs the decision loop.
func (s *Sampler) Start() {
	s.started.Store(true)
	go func() {
		defer close(s.done)
		t := time.NewTicker(max(s.opts.DecisionWait/10, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.DecideOlderThan(s.opts.Now().Add(-s.opts.DecisionWait))
			}
		}
	}()
}

// Close decides and forwards everything held.
func (s *Sampler) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	if s.started.Load() {
		<-s.done
	}
	s.DecideOlderThan(time.Unix(math.MaxInt32, 0))
	return nil
}

// Offer takes rows (the sampler keeps them; the caller must not reuse the
// slice). With pass-through it stores them at once and returns the store's
// error.
func (s *Sampler) Offer(ctx context.Context, rows []model.Event) error {
	if s.PassThrough() {
		return s.next(ctx, rows)
	}
	now := s.opts.Now()
	var keepNow []model.Event
	s.mu.Lock()
	for _, r := range rows {
		k := traceKey{r.Tenant, r.TraceID}
		if v, ok := s.verdicts[k]; ok {
			if v {
				keepNow = append(keepNow, r)
			}
			continue
		}
		p := s.traces[k]
		if p == nil {
			p = &pendingTrace{key: k, first: now}
			p.elem = s.order.PushBack(p)
			s.traces[k] = p
		}
		p.rows = append(p.rows, r)
		n := int64(r.Size())
		p.bytes += n
		s.bytes += n
	}
	var early []model.Event
	for s.bytes > s.opts.MaxBufferedBytes && s.order.Len() > 0 {
		early = s.decideLocked(s.order.Front().Value.(*pendingTrace), early)
	}
	s.mu.Unlock()
	keepNow = append(keepNow, early...)
	if len(keepNow) > 0 {
		return s.next(ctx, keepNow)
	}
	return nil
}

// DecideOlderThan decides the traces first seen before t and forwards the
// kept rows.
func (s *Sampler) DecideOlderThan(t time.Time) {
	s.mu.Lock()
	var out []model.Event
	for s.order.Len() > 0 {
		p := s.order.Front().Value.(*pendingTrace)
		if !p.first.Before(t) {
			break
		}
		out = s.decideLocked(p, out)
	}
	s.mu.Unlock()
	if len(out) > 0 {
		if err := s.next(context.Background(), out); err != nil {
			s.forwardErrors.Inc()
			s.opts.Logger.Warn("store sampled spans", "err", err, "rows", len(out))
		}
	}
}

// Keep reports the verdict for a trace's rows seen so far.
func (s *Sampler) Keep(id model.TraceID, rows []model.Event) bool {
	if s.opts.Rate > 0 && float64(xxhash.Sum64(id[:])>>11)/float64(1<<53) < s.opts.Rate {
		return true
	}
	for i := range rows {
		r := &rows[i]
		if r.Signal != model.SignalSpan {
			continue
		}
		if s.opts.KeepErrors && r.StatusCode == model.StatusError {
			return true
		}
		if s.opts.SlowerThan > 0 && r.Duration >= s.opts.SlowerThan.Nanoseconds() {
			return true
		}
	}
	return false
}

func (s *Sampler) decideLocked(p *pendingTrace, out []model.Event) []model.Event {
	s.order.Remove(p.elem)
	delete(s.traces, p.key)
	s.bytes -= p.bytes
	keep := s.Keep(p.key.id, p.rows)
	if keep {
		s.kept.Inc()
		out = append(out, p.rows...)
	} else {
		s.dropped.Inc()
	}
	if len(s.vorder) < s.opts.MaxDecisions {
		s.vorder = append(s.vorder, p.key)
	} else {
		delete(s.verdicts, s.vorder[s.vpos])
		s.vorder[s.vpos] = p.key
		s.vpos = (s.vpos + 1) % len(s.vorder)
	}
	s.verdicts[p.key] = keep
	return out
}

// Buffered reports the traces and bytes held.
func (s *Sampler) Buffered() (traces int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.traces), s.bytes
}
