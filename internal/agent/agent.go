// Package agent is `sightline agent`: it tails log files (and Kubernetes pod
// logs, enriched from the API server by kube), parses them into records,
// stores batches in a disk buffer and ships them to a sightline server over
// OTLP/HTTP, checkpointing only what the server acknowledged. Beside files
// it runs, when configured, the journald input and the local OTLP relay
// (each with its own disk outbox, package relay) and the metrics forwarder
// (package scrape: scrape_configs → remote_write). Delivery is at least once; each batch has a stable id
// (agent id + sequence number) that survives restarts, so the server can
// drop exact retries and what is stored is exactly once.
//
// Data flow: tail.Tailer → parse.Processor → ship.Encoder → buffer.Buffer →
// ship.Client → checkpoint.Store. Back-pressure is a blocking channel send:
// a full buffer stops the pipeline goroutine, which stops the tailer.
//
// Restart: the positions file gives the acknowledged offsets and the last
// acknowledged batch sequence; batches still in the buffer are re-sent with
// their original ids and their positions tell the tailer where reading
// resumes, so no line is read into two different batches.
//
// An Agent runs once (Run); its methods are not meant for concurrent use.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sightline/sightline/internal/agent/buffer"
	"github.com/sightline/sightline/internal/agent/checkpoint"
	"github.com/sightline/sightline/internal/agent/journald"
	"github.com/sightline/sightline/internal/agent/kube"
	"github.com/sightline/sightline/internal/agent/parse"
	"github.com/sightline/sightline/internal/agent/relay"
	"github.com/sightline/sightline/internal/agent/scrape"
	"github.com/sightline/sightline/internal/agent/ship"
	"github.com/sightline/sightline/internal/agent/tail"
)

// Agent is one collector instance.
type Agent struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer

	tm *tail.Metrics
	bm *buffer.Metrics
	sm *ship.Metrics
	m  *metrics

	// crashOnStop makes Run return on cancellation without flushing the
	// current batch or writing a final checkpoint (tests simulate kill -9).
	crashOnStop bool
	// httpClient overrides the shipper's client (tests).
	httpClient *http.Client

	mu       sync.Mutex // guards state, ackPos, acked, dirty, listener, relay
	state    *checkpoint.State
	ackPos   buffer.Pos
	acked    bool
	dirty    bool
	listener net.Listener
	relay    *relay.Relay
}

type metrics struct {
	records         prometheus.Counter
	dropped         prometheus.Counter
	batches         prometheus.Counter
	checkpoints     prometheus.Counter
	checkpointFails prometheus.Counter
	lastCheckpoint  prometheus.Gauge
}

// New validates cfg and creates an agent; reg (may be nil) receives its
// metrics.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg.resolved(), log: log, reg: reg}
	a.tm = tail.NewMetrics(reg)
	a.bm = buffer.NewMetrics(reg)
	a.sm = ship.NewMetrics(reg)
	a.m = &metrics{
		records:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_records_total", Help: "Records produced by parsing (after multi-line joining)."}),
		dropped:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_records_dropped_by_filter_total", Help: "Records removed by drop/keep filters."}),
		batches:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_batches_buffered_total", Help: "Batches written to the disk buffer."}),
		checkpoints:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_checkpoint_writes_total", Help: "Positions file writes."}),
		checkpointFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_checkpoint_failures_total", Help: "Positions file writes that failed."}),
		lastCheckpoint:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "sightline_agent_last_checkpoint_timestamp_seconds", Help: "When the positions file was last written."}),
	}
	if reg != nil {
		reg.MustRegister(a.m.records, a.m.dropped, a.m.batches, a.m.checkpoints, a.m.checkpointFails, a.m.lastCheckpoint)
	}
	return a, nil
}

// Addr returns the metrics listener's address once Run has started it.
func (a *Agent) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listener == nil {
		return nil
	}
	return a.listener.Addr()
}

// Run collects and ships until ctx is done (or, with Once, until what
// existed at start is acknowledged). It returns nil on a clean stop.
func (a *Agent) Run(ctx context.Context) (err error) {
	dir := a.cfg.DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	agentID, err := loadOrCreateID(filepath.Join(dir, "agent-id"))
	if err != nil {
		return err
	}
	store := checkpoint.NewStore(dir)
	state, err := store.Load()
	if err != nil {
		return fmt.Errorf("load positions (delete %s to start over): %w", store.Path(), err)
	}
	buf, err := buffer.Open(filepath.Join(dir, "buffer"), a.cfg.Buffer, a.log, a.bm)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, buf.Close()) }()

	// Recover: batches up to AckedSeq were delivered; later ones are
	// re-sent and tell the tailer where reading resumes.
	resume := state.Clone()
	lastSeq := state.AckedSeq
	pending := 0
	err = buf.Unacked(func(e buffer.Entry) error {
		b, err := ship.UnmarshalBatch(e.Data)
		if err != nil {
			a.log.Error("disk buffer: undecodable batch skipped", "err", err)
			if pending == 0 {
				buf.Ack(e.Pos)
			}
			return nil
		}
		if b.Seq <= state.AckedSeq && pending == 0 {
			buf.Ack(e.Pos)
			return nil
		}
		pending++
		resume.Apply(b.Seq, b.Positions)
		lastSeq = max(lastSeq, b.Seq)
		return nil
	})
	if err != nil {
		return err
	}
	pruneVanished(state, time.Now().Add(-a.cfg.PositionsRetention))
	a.log.Info("agent starting", "id", agentID, "files_in_checkpoint", len(state.Files), "acked_seq", state.AckedSeq, "buffered_batches", pending, "server", a.cfg.Server)
	a.state = state

	var tailer *tail.Tailer // nil when only journald or the relay is configured
	if len(a.cfg.Paths) > 0 {
		if tailer, err = tail.New(a.cfg.Tail, resume.List(), a.log, a.tm); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var closers []func() error // run after every goroutine ended
	defer func() {
		cancel()
		wg.Wait()
		for _, c := range closers {
			err = errors.Join(err, c())
		}
	}()

	popts := a.cfg.Parse
	if a.cfg.Kubernetes.Active() {
		// Without the API server, pod logs keep their path's metadata.
		if pods, err := kube.New(a.cfg.Kubernetes, a.log); err != nil {
			a.log.Warn("kubernetes pod metadata unavailable; using log paths only", "err", err)
		} else {
			popts.Pods = pods
			wg.Go(func() { _ = pods.Run(runCtx) })
		}
	}
	proc, err := parse.NewProcessor(popts, nil)
	if err != nil {
		return err
	}
	client, err := ship.NewClient(a.cfg.Ship, a.httpClient, a.log, a.sm)
	if err != nil {
		return err
	}
	defer client.Close()

	errc := make(chan error, 8)
	if err := a.startInputs(runCtx, &wg, &closers, errc, agentID, client); err != nil {
		return err
	}
	chunks := make(chan tail.Chunk, 2) // small: a full buffer must stop reading soon
	produced := make(chan struct{})

	if a.cfg.HTTPAddr != "" {
		srv, ln, err := a.metricsServer()
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics server", "err", err)
			}
		})
		wg.Go(func() {
			<-runCtx.Done()
			srv.Close()
		})
	}
	wg.Go(func() {
		switch {
		case tailer == nil:
			if a.cfg.Once {
				close(chunks)
			}
		case a.cfg.Once:
			if err := tailer.Poll(runCtx, chunks); err != nil && runCtx.Err() == nil {
				errc <- err
			}
			close(chunks)
		default:
			if err := tailer.Run(runCtx, chunks); err != nil && runCtx.Err() == nil {
				errc <- err
			}
		}
	})
	wg.Go(func() {
		if err := a.pipeline(runCtx, chunks, proc, buf, agentID, lastSeq+1); err != nil {
			errc <- err
			return
		}
		close(produced)
	})
	wg.Go(func() {
		if err := a.ship(runCtx, buf, client, tailer); err != nil {
			errc <- err
		}
	})
	wg.Go(func() { a.checkpointLoop(runCtx, store, buf) })
	if a.cfg.Once {
		wg.Go(func() {
			select {
			case <-produced:
			case <-runCtx.Done():
				return
			}
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for buf.Len() > 0 {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
				}
			}
			cancel()
		})
	}

	select {
	case err = <-errc:
	case <-runCtx.Done():
	}
	cancel()
	wg.Wait()
	if a.crashOnStop {
		return err
	}
	if cerr := a.flushCheckpoint(store, buf); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err == nil && a.cfg.Once && buf.Len() > 0 {
		err = fmt.Errorf("run agent once: stopped with %d batches not acknowledged", buf.Len())
	}
	return err
}

// pipeline turns chunks into batches in the buffer. It returns nil when
// chunks is closed (Once) or ctx ends.
func (a *Agent) pipeline(ctx context.Context, chunks <-chan tail.Chunk, proc *parse.Processor, buf *buffer.Buffer, agentID string, seq uint64) error {
	enc := ship.NewEncoder()
	var scratch []byte
	flush := func(ctx context.Context) error {
		if enc.Empty() {
			return nil
		}
		b, err := enc.Finish(seq, fmt.Sprintf("%s-%d", agentID, seq))
		if err != nil {
			return err
		}
		scratch = ship.MarshalBatch(scratch[:0], b)
		if err := buf.Append(ctx, scratch); err != nil {
			return err
		}
		a.m.batches.Inc()
		seq++
		return nil
	}
	var flushErr error
	emit := func(r *parse.Record) {
		switch {
		case r.Drop:
			a.m.dropped.Inc()
		case !r.Closed && !r.Mark:
			a.m.records.Inc()
		}
		enc.Add(r, time.Now())
		if flushErr == nil && (enc.Len() >= a.cfg.Batch.MaxRecords || enc.Bytes() >= a.cfg.Batch.MaxBytes) {
			flushErr = flush(ctx)
		}
	}
	tick := time.NewTicker(min(100*time.Millisecond, a.cfg.Batch.MaxWait))
	defer tick.Stop()
	for {
		select {
		case c, ok := <-chunks:
			if !ok { // Once: everything that existed was read
				proc.FlushAll(emit)
				if flushErr == nil {
					flushErr = flush(ctx)
				}
				return ignoreCanceled(flushErr)
			}
			proc.Process(c, emit)
		case <-tick.C:
			proc.FlushExpired(emit)
			if flushErr == nil && !enc.Empty() && time.Since(enc.Started()) >= a.cfg.Batch.MaxWait {
				flushErr = flush(ctx)
			}
		case <-ctx.Done():
			if a.crashOnStop {
				return nil
			}
			// Keep what was read: its lines are complete records.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if flushErr == nil {
				flushErr = flush(fctx)
			}
			return ignoreCanceled(flushErr)
		}
		if flushErr != nil {
			return ignoreCanceled(flushErr)
		}
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// ship delivers buffered batches in order and records acknowledgements.
// tailer (nil without files) learns the acknowledged positions for its lag
// in seconds.
func (a *Agent) ship(ctx context.Context, buf *buffer.Buffer, client *ship.Client, tailer *tail.Tailer) error {
	for {
		e, err := buf.Peek(ctx)
		if err != nil {
			return ignoreCanceled(err)
		}
		b, err := ship.UnmarshalBatch(e.Data)
		if err != nil {
			a.log.Error("disk buffer: undecodable batch skipped", "err", err)
			buf.Ack(e.Pos)
			continue
		}
		if err := client.Deliver(ctx, b); err != nil && !errors.Is(err, ship.ErrRejected) {
			return ignoreCanceled(err)
		}
		// Delivered, or rejected for good (logged and counted): move on.
		// The buffer learns first, so a checkpoint never releases a
		// record the buffer does not yet count as acknowledged.
		buf.Ack(e.Pos)
		a.mu.Lock()
		a.state.Apply(b.Seq, b.Positions)
		a.ackPos, a.acked, a.dirty = e.Pos, true, true
		a.mu.Unlock()
		if tailer != nil {
			tailer.Acknowledge(b.Positions)
		}
	}
}

// startInputs starts the inputs that are not files: the metrics forwarder
// (not in --once runs), journald and the OTLP relay, the last two each
// with its own outbox in the data directory; their
// goroutines join wg and their outboxes are closed through closers.
func (a *Agent) startInputs(ctx context.Context, wg *sync.WaitGroup, closers *[]func() error, errc chan<- error, agentID string, client *ship.Client) error {
	if a.cfg.Metrics.Enabled() && !a.cfg.Once {
		fw, err := scrape.New(a.cfg.Metrics, a.log.With("input", "metrics"), a.reg)
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := fw.Run(ctx); err != nil {
				errc <- err
			}
		})
	}
	if !a.cfg.Journald.Enabled && !a.cfg.Relay.Enabled() {
		return nil
	}
	om := relay.NewOutboxMetrics(a.reg)
	// open opens an outbox delivered by d (the log shipper, or a client
	// for another OTLP path).
	open := func(name string, d relay.Deliverer) (*relay.Outbox, error) {
		out, err := relay.OpenOutbox(filepath.Join(a.cfg.DataDir, name), name, agentID, a.cfg.Buffer, a.log, om)
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, out.Close)
		wg.Go(func() {
			if err := out.Run(ctx, d); err != nil {
				errc <- err
			}
		})
		return out, nil
	}
	// otherSignal opens the outbox of a relayed signal sent to path.
	otherSignal := func(name, path string) (*relay.Outbox, error) {
		so := a.cfg.Ship
		so.Path = path
		c, err := ship.NewClient(so, a.httpClient, a.log, ship.NewMetrics(nil))
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, func() error { c.Close(); return nil })
		return open(name, c)
	}
	if a.cfg.Journald.Enabled {
		out, err := open("journald", client)
		if err != nil {
			return err
		}
		r, err := journald.NewReader(a.cfg.Journald, a.cfg.Labels, out, a.log.With("input", "journald"))
		if err != nil {
			return err
		}
		a.log.Info("journald input", "command", a.cfg.Journald.Command, "resume_cursor", out.Resume())
		wg.Go(func() { _ = r.Run(ctx) })
	}
	if a.cfg.Relay.Enabled() {
		var outs relay.Outboxes
		var err error
		if a.cfg.Relay.Relays("logs") {
			if outs.Logs, err = open("relay", client); err != nil {
				return err
			}
		}
		if a.cfg.Relay.Relays("traces") {
			if outs.Traces, err = otherSignal("relay-traces", a.cfg.Relay.TracesPath); err != nil {
				return err
			}
		}
		if a.cfg.Relay.Relays("metrics") {
			if outs.Metrics, err = otherSignal("relay-metrics", a.cfg.Relay.MetricsPath); err != nil {
				return err
			}
		}
		labels := map[string]string{}
		for k, v := range a.cfg.Labels {
			if k == "service" || k == "service_name" {
				continue // an app names its own service; --label service= is for files
			}
			labels[k] = v
		}
		delete(labels, "service.name")
		r, err := relay.New(a.cfg.Relay, outs, labels, a.log.With("input", "relay"), a.reg)
		if err != nil {
			return err
		}
		serve, err := r.Listen()
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.relay = r
		a.mu.Unlock()
		a.log.Info("OTLP relay listening", "http", r.Addr(), "grpc", r.GRPCAddr())
		wg.Go(func() {
			if err := serve(ctx); err != nil {
				errc <- err
			}
		})
	}
	return nil
}

// RelayAddrs returns the OTLP relay's HTTP and gRPC addresses once Run has
// bound them (nil when not configured).
func (a *Agent) RelayAddrs() (httpAddr, grpcAddr net.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.relay == nil {
		return nil, nil
	}
	return a.relay.Addr(), a.relay.GRPCAddr()
}

func (a *Agent) checkpointLoop(ctx context.Context, store *checkpoint.Store, buf *buffer.Buffer) {
	t := time.NewTicker(a.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.flushCheckpoint(store, buf); err != nil {
				a.log.Error("write positions file", "err", err)
			}
		}
	}
}

// flushCheckpoint writes the acknowledged state, then deletes buffer
// segments it covers.
func (a *Agent) flushCheckpoint(store *checkpoint.Store, buf *buffer.Buffer) error {
	a.mu.Lock()
	if !a.dirty {
		a.mu.Unlock()
		return nil
	}
	snap, pos, acked := a.state.Clone(), a.ackPos, a.acked
	a.dirty = false
	a.mu.Unlock()
	if err := store.Save(snap); err != nil {
		a.m.checkpointFails.Inc()
		a.mu.Lock()
		a.dirty = true
		a.mu.Unlock()
		return err
	}
	a.m.checkpoints.Inc()
	a.m.lastCheckpoint.SetToCurrentTime()
	if acked {
		return buf.Release(pos)
	}
	return nil
}

func (a *Agent) metricsServer() (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on --http-addr %s: %w", a.cfg.HTTPAddr, err)
	}
	g, ok := a.reg.(prometheus.Gatherer)
	if !ok {
		g = prometheus.DefaultGatherer
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	a.mu.Lock()
	a.listener = ln
	a.mu.Unlock()
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}

// pruneVanished drops positions of files that no longer exist at their
// path and were last updated before cutoff (an idle file that still exists
// keeps its position however old).
func pruneVanished(st *checkpoint.State, cutoff time.Time) {
	for k, p := range st.Files {
		if !p.Updated.Before(cutoff) {
			continue
		}
		if _, err := os.Stat(p.Path); errors.Is(err, os.ErrNotExist) {
			delete(st.Files, k)
		}
	}
}

// loadOrCreateID returns the agent's persistent id, creating it once.
func loadOrCreateID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read agent id: %w", err)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate agent id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	if err := checkpoint.WriteFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write agent id: %w", err)
	}
	return id, nil
}
