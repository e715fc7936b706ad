package relay

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/agent/buffer"
	"github.com/sightline/sightline/internal/agent/checkpoint"
	"github.com/sightline/sightline/internal/agent/ship"
)

// Deliverer sends one batch, retrying until it is acknowledged, rejected
// for good (an error wrapping ship.ErrRejected) or ctx ends.
// *ship.Client implements it.
type Deliverer interface {
	Deliver(ctx context.Context, b *ship.Batch) error
}

// Outbox is a durable, ordered queue of OTLP log batches from one source
// that is not a file (the OTLP relay, journald). Put returns once the
// batch is fsynced in the outbox's disk buffer; Run delivers batches in
// order, each with the id "<agent id>-<name>-<seq>" that it keeps across
// restarts, so the server drops exact retries. Each batch may carry a
// token (a journald cursor): Resume returns the token of the last batch
// put, acknowledged or not, which is where the source continues after a
// restart without reading anything twice.
//
// Put is safe for concurrent use; Run must be called once.
type Outbox struct {
	name    string
	agentID string
	dir     string
	buf     *buffer.Buffer
	log     *slog.Logger
	m       *OutboxMetrics

	mu     sync.Mutex // guards seq, resume (Put's append order is seq order)
	seq    uint64     // last sequence number put
	resume string

	stMu  sync.Mutex // guards state (written by the delivery loop)
	state outboxState
}

// outboxState is the outbox's acknowledgement file (JSON).
type outboxState struct {
	AckedSeq uint64 `json:"acked_seq"`
	Token    string `json:"token,omitempty"`
}

// OutboxMetrics are an outbox's collectors, labelled by input.
type OutboxMetrics struct {
	Batches  *prometheus.CounterVec
	Records  *prometheus.CounterVec
	Sent     *prometheus.CounterVec
	Rejected *prometheus.CounterVec
	Pending  *prometheus.GaugeVec
}

// NewOutboxMetrics creates the collectors and registers them with reg
// (nil: not registered). One set serves every outbox of an agent.
func NewOutboxMetrics(reg prometheus.Registerer) *OutboxMetrics {
	m := &OutboxMetrics{
		Batches:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_agent_input_batches_buffered_total", Help: "Batches an input (relay, journald) wrote to its disk buffer."}, []string{"input"}),
		Records:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_agent_input_records_total", Help: "Log records an input wrote to its disk buffer."}, []string{"input"}),
		Sent:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_agent_input_batches_sent_total", Help: "Batches of an input acknowledged by the server."}, []string{"input"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sightline_agent_input_batches_rejected_total", Help: "Batches of an input the server rejected for good."}, []string{"input"}),
		Pending:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sightline_agent_input_buffered_batches", Help: "Batches of an input in its disk buffer not yet acknowledged."}, []string{"input"}),
	}
	if reg != nil {
		reg.MustRegister(m.Batches, m.Records, m.Sent, m.Rejected, m.Pending)
	}
	return m
}

const (
	entryVersion  = 1
	stateFileName = "acked.json"
)

// appendEntry encodes one outbox record:
//
//	byte     version (1)
//	uvarint  seq
//	uvarint  records
//	uvarint  len(token), token bytes
//	rest     OTLP ExportLogsServiceRequest, protobuf
func appendEntry(dst []byte, seq uint64, records int, token string, logs []byte) []byte {
	dst = append(dst, entryVersion)
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(records))
	dst = binary.AppendUvarint(dst, uint64(len(token)))
	dst = append(dst, token...)
	return append(dst, logs...)
}

var errEntry = errors.New("decode outbox entry: malformed")

// decodeEntry decodes an outbox record; logs aliases src.
func decodeEntry(src []byte) (seq uint64, records int, token string, logs []byte, err error) {
	if len(src) == 0 || src[0] != entryVersion {
		return 0, 0, "", nil, fmt.Errorf("decode outbox entry: unknown version")
	}
	b := src[1:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, 0, "", nil, errEntry
		}
		vals[i], b = v, b[n:]
	}
	if vals[1] > math.MaxInt32 || vals[2] > uint64(len(b)) {
		return 0, 0, "", nil, errEntry
	}
	return vals[0], int(vals[1]), string(b[:vals[2]]), b[vals[2]:], nil
}

// OpenOutbox opens (or creates) the outbox name in dir and recovers what
// it holds: batches up to the acknowledged sequence are dropped, later
// ones are delivered again by Run with their original ids.
func OpenOutbox(dir, name, agentID string, opts buffer.Options, log *slog.Logger, m *OutboxMetrics) (o *Outbox, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewOutboxMetrics(nil)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s outbox directory: %w", name, err)
	}
	o = &Outbox{name: name, agentID: agentID, dir: dir, log: log.With("input", name), m: m}
	raw, err := os.ReadFile(filepath.Join(dir, stateFileName))
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &o.state); err != nil {
			return nil, fmt.Errorf("read %s outbox state (delete %s to start over): %w", name, filepath.Join(dir, stateFileName), err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read %s outbox state: %w", name, err)
	}
	o.seq, o.resume = o.state.AckedSeq, o.state.Token
	o.buf, err = buffer.Open(filepath.Join(dir, "buffer"), opts, o.log, buffer.NewMetrics(nil))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, o.buf.Close())
		}
	}()
	pending := 0
	err = o.buf.Unacked(func(e buffer.Entry) error {
		seq, _, token, _, derr := decodeEntry(e.Data)
		if derr != nil {
			o.log.Error("outbox: undecodable batch skipped", "err", derr)
			if pending == 0 {
				o.buf.Ack(e.Pos)
			}
			return nil
		}
		if seq <= o.state.AckedSeq && pending == 0 {
			o.buf.Ack(e.Pos)
			return nil
		}
		pending++
		o.seq = max(o.seq, seq)
		if token != "" {
			o.resume = token
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recover %s outbox: %w", name, err)
	}
	o.m.Pending.WithLabelValues(name).Set(float64(pending))
	return o, nil
}

// Resume returns the token of the last batch put (empty when none).
func (o *Outbox) Resume() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.resume
}

// Put stores one batch durably; records is the number of log records in
// logs (an OTLP ExportLogsServiceRequest in protobuf), token where its
// source resumes after it ("" keeps the previous token). It blocks while
// the disk buffer is full.
func (o *Outbox) Put(ctx context.Context, logs []byte, records int, token string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if token == "" {
		token = o.resume
	}
	data := appendEntry(make([]byte, 0, len(logs)+len(token)+32), o.seq+1, records, token, logs)
	if err := o.buf.Append(ctx, data); err != nil {
		return fmt.Errorf("buffer %s batch: %w", o.name, err)
	}
	o.seq++
	o.resume = token
	o.m.Batches.WithLabelValues(o.name).Inc()
	o.m.Records.WithLabelValues(o.name).Add(float64(records))
	o.m.Pending.WithLabelValues(o.name).Inc()
	return nil
}

// Len returns the number of batches not yet acknowledged.
func (o *Outbox) Len() int { return o.buf.Len() }

// Run delivers batches in order until ctx ends; after each acknowledgement
// it records the sequence durably and frees buffer space.
func (o *Outbox) Run(ctx context.Context, d Deliverer) error {
	for {
		e, err := o.buf.Peek(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, buffer.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read %s outbox: %w", o.name, err)
		}
		seq, records, token, logs, err := decodeEntry(e.Data)
		if err != nil {
			o.log.Error("outbox: undecodable batch skipped", "err", err)
			o.buf.Ack(e.Pos)
			continue
		}
		b := &ship.Batch{Seq: seq, ID: fmt.Sprintf("%s-%s-%d", o.agentID, o.name, seq), Records: records, Logs: logs}
		switch err := d.Deliver(ctx, b); {
		case err == nil:
			o.m.Sent.WithLabelValues(o.name).Inc()
		case errors.Is(err, ship.ErrRejected):
			o.m.Rejected.WithLabelValues(o.name).Inc()
		case ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("deliver %s batch: %w", o.name, err)
		}
		o.buf.Ack(e.Pos)
		o.m.Pending.WithLabelValues(o.name).Dec()
		if err := o.saveState(outboxState{AckedSeq: seq, Token: token}); err != nil {
			o.log.Error("outbox: write acknowledgement state", "err", err)
			continue
		}
		if err := o.buf.Release(e.Pos); err != nil {
			o.log.Error("outbox: release delivered segments", "err", err)
		}
	}
}

func (o *Outbox) saveState(st outboxState) error {
	o.stMu.Lock()
	defer o.stMu.Unlock()
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode outbox state: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(o.dir, stateFileName), b); err != nil {
		return fmt.Errorf("write outbox state: %w", err)
	}
	o.state = st
	return nil
}

// Close closes the disk buffer; a blocked Put or Run returns.
func (o *Outbox) Close() error { return o.buf.Close() }
