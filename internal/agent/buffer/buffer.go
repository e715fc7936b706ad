// Package buffer is the agent's on-disk queue of encoded batches. Records
// are appended to segment files, each framed with its length and a CRC-32C,
// and fsynced before Append returns, so an appended batch survives kill -9.
// Records are consumed in order: Peek returns the oldest unacknowledged
// record, Ack marks it delivered, and Release deletes segment files once the
// caller has durably recorded the acknowledgements (the positions file).
//
// The queue is bounded by the bytes of unacknowledged records: when full,
// Append blocks (back-pressure on the reader; nothing is dropped) and the
// condition is logged loudly and exported as a metric.
//
// A Buffer is safe for concurrent use by one appender and one consumer.
//
// Segment format (docs: see Segment below): a sequence of records, each
//
//	uint32 little-endian  payload length
//	uint32 little-endian  CRC-32C (Castagnoli) of the payload
//	payload
//
// A torn record at the end of the newest segment (crash during append) is
// truncated away on Open; a bad record elsewhere ends that segment's replay
// and is reported.
package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	headerSize = 8
	segSuffix  = ".seg"
	// MaxRecordSize bounds one record's payload.
	MaxRecordSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configures a Buffer.
type Options struct {
	// MaxBytes bounds the payload bytes of unacknowledged records.
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size at which a new segment file is started.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// NoSync skips fsync (tests and benchmarks only).
	NoSync bool `yaml:"-"`
}

// DefaultOptions returns the defaults: 1 GiB bounded, 16 MiB segments.
func DefaultOptions() Options {
	return Options{MaxBytes: 1 << 30, SegmentBytes: 16 << 20}
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.MaxBytes <= 0 || o.SegmentBytes <= 0 {
		return errors.New("validate buffer options: max_bytes and segment_bytes must be positive")
	}
	return nil
}

// Pos identifies a record within this process's lifetime.
type Pos struct {
	Seg   uint64 // segment number
	Index uint64 // record number, increasing across segments
}

// Entry is one record returned by Peek.
type Entry struct {
	Pos  Pos
	Data []byte
}

type rec struct {
	seg  uint64
	off  int64
	size int64 // payload size
}

// Metrics are the buffer's collectors.
type Metrics struct {
	Bytes        prometheus.Gauge
	Records      prometheus.Gauge
	Full         prometheus.Gauge
	BlockedTotal prometheus.Counter
	Corrupt      prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Bytes:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "sightline_agent_buffer_bytes", Help: "Bytes of batches in the disk buffer not yet acknowledged by the server."}),
		Records:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "sightline_agent_buffer_batches", Help: "Batches in the disk buffer not yet acknowledged by the server."}),
		Full:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "sightline_agent_buffer_full", Help: "1 while the disk buffer is full and tailing is paused."}),
		BlockedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_buffer_blocked_seconds_total", Help: "Time appends waited for space in the disk buffer."}),
		Corrupt:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_buffer_corrupt_records_total", Help: "Corrupt records found in the disk buffer on open."}),
	}
	if reg != nil {
		reg.MustRegister(m.Bytes, m.Records, m.Full, m.BlockedTotal, m.Corrupt)
	}
	return m
}

// Buffer is an on-disk FIFO of records.
type Buffer struct {
	dir  string
	opts Options
	log  *slog.Logger
	m    *Metrics

	mu      sync.Mutex    // guards the fields below
	changed chan struct{} // closed and replaced on every append, ack or close
	recs    []rec         // unreleased records, oldest first
	base    uint64        // Index of recs[0]
	acked   uint64        // Index of the first unacknowledged record
	used    int64         // payload bytes of unacknowledged records
	w       *os.File      // active segment
	wSeg    uint64
	wSize   int64
	readers map[uint64]*os.File
	closed  bool
	full    bool
}

// Open opens or creates the buffer in dir and replays its segments. All
// recovered records are unacknowledged; the caller acknowledges those it
// knows were delivered.
func Open(dir string, opts Options, log *slog.Logger, m *Metrics) (b *Buffer, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create buffer directory: %w", err)
	}
	b = &Buffer{dir: dir, opts: opts, log: log, m: m, changed: make(chan struct{}), readers: map[uint64]*os.File{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close())
		}
	}()
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	for i, seg := range segs {
		path := b.segPath(seg)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read buffer segment: %w", err)
		}
		offs, valid, serr := Scan(data)
		if len(offs) == 0 && serr == nil {
			// An empty segment (the previous run's unused active one).
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("remove empty buffer segment: %w", err)
			}
			continue
		}
		for j, off := range offs {
			end := valid
			if j+1 < len(offs) {
				end = offs[j+1]
			}
			b.recs = append(b.recs, rec{seg: seg, off: int64(off), size: int64(end - off - headerSize)})
			b.used += int64(end - off - headerSize)
		}
		if serr != nil {
			m.Corrupt.Inc()
			if i == len(segs)-1 {
				log.Warn("disk buffer: truncating torn record at the end of the newest segment", "segment", path, "offset", valid, "err", serr)
				if err := os.Truncate(path, int64(valid)); err != nil {
					return nil, fmt.Errorf("truncate buffer segment: %w", err)
				}
			} else {
				log.Error("disk buffer: corrupt record; the rest of this segment is skipped", "segment", path, "offset", valid, "err", serr)
			}
		}
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	if err := b.openSegment(next); err != nil {
		return nil, err
	}
	b.updateMetricsLocked()
	return b, nil
}

func (b *Buffer) segPath(seg uint64) string {
	return filepath.Join(b.dir, fmt.Sprintf("%020d%s", seg, segSuffix))
}

func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list buffer directory: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

// Scan walks the records of segment data, returning each record's offset
// and the length of the valid prefix; err describes the first bad record.
func Scan(data []byte) (offs []int, valid int, err error) {
	off := 0
	for off < len(data) {
		if len(data)-off < headerSize {
			return offs, off, errors.New("short record header")
		}
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n > MaxRecordSize || int(n) > len(data)-off-headerSize {
			return offs, off, fmt.Errorf("record length %d exceeds segment", n)
		}
		payload := data[off+headerSize : off+headerSize+int(n)]
		if crc32.Checksum(payload, castagnoli) != sum {
			return offs, off, errors.New("record checksum mismatch")
		}
		offs = append(offs, off)
		off += headerSize + int(n)
	}
	return offs, off, nil
}

// openSegment starts a new active segment (caller holds mu or is Open).
func (b *Buffer) openSegment(seg uint64) error {
	f, err := os.OpenFile(b.segPath(seg), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create buffer segment: %w", err)
	}
	if !b.opts.NoSync {
		if err := syncDir(b.dir); err != nil {
			f.Close()
			return err
		}
	}
	if b.w != nil {
		b.w.Close()
	}
	b.w, b.wSeg, b.wSize = f, seg, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open buffer directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync buffer directory: %w", err)
	}
	return nil
}

// ErrClosed is returned by operations on a closed buffer.
var ErrClosed = errors.New("disk buffer closed")

// Append writes data as one record, durably. It blocks while the buffer is
// full (a record larger than MaxBytes is accepted when the buffer is empty).
func (b *Buffer) Append(ctx context.Context, data []byte) error {
	if len(data) > MaxRecordSize {
		return fmt.Errorf("append to buffer: record of %d bytes exceeds %d", len(data), MaxRecordSize)
	}
	b.mu.Lock()
	var blockedSince time.Time
	for !b.closed && b.used > 0 && b.used+int64(len(data)) > b.opts.MaxBytes {
		if !b.full {
			b.full = true
			blockedSince = time.Now()
			b.m.Full.Set(1)
			b.log.Error("DISK BUFFER FULL: tailing is paused until the server accepts data; nothing is dropped. Raise buffer max_bytes or check the server.", "dir", b.dir, "used_bytes", b.used, "max_bytes", b.opts.MaxBytes)
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	if b.full {
		b.full = false
		b.m.Full.Set(0)
		if !blockedSince.IsZero() {
			d := time.Since(blockedSince)
			b.m.BlockedTotal.Add(d.Seconds())
			b.log.Warn("disk buffer has room again; tailing resumes", "paused", d.Round(time.Millisecond))
		}
	}
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.wSize > 0 && b.wSize+headerSize+int64(len(data)) > b.opts.SegmentBytes {
		if err := b.openSegment(b.wSeg + 1); err != nil {
			return err
		}
	}
	frame := make([]byte, headerSize, headerSize+len(data))
	binary.LittleEndian.PutUint32(frame, uint32(len(data)))
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(data, castagnoli))
	frame = append(frame, data...)
	if _, err := b.w.Write(frame); err != nil {
		// Drop the partial frame so the segment stays well formed.
		b.w.Truncate(b.wSize)
		return fmt.Errorf("append to buffer: %w", err)
	}
	if !b.opts.NoSync {
		if err := b.w.Sync(); err != nil {
			return fmt.Errorf("sync buffer segment: %w", err)
		}
	}
	b.recs = append(b.recs, rec{seg: b.wSeg, off: b.wSize, size: int64(len(data))})
	b.wSize += int64(len(frame))
	b.used += int64(len(data))
	b.notifyLocked()
	b.updateMetricsLocked()
	return nil
}

func (b *Buffer) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Buffer) updateMetricsLocked() {
	b.m.Bytes.Set(float64(b.used))
	b.m.Records.Set(float64(b.base + uint64(len(b.recs)) - b.acked))
}

// Peek returns the oldest unacknowledged record, waiting for one.
func (b *Buffer) Peek(ctx context.Context) (Entry, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return Entry{}, ErrClosed
		}
		if i := b.acked - b.base; i < uint64(len(b.recs)) {
			r := b.recs[i]
			f, err := b.readerLocked(r.seg)
			b.mu.Unlock()
			if err != nil {
				return Entry{}, err
			}
			data := make([]byte, r.size)
			if _, err := f.ReadAt(data, r.off+headerSize); err != nil {
				return Entry{}, fmt.Errorf("read buffer record: %w", err)
			}
			return Entry{Pos: Pos{Seg: r.seg, Index: b.acked}, Data: data}, nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
	}
}

func (b *Buffer) readerLocked(seg uint64) (*os.File, error) {
	if f := b.readers[seg]; f != nil {
		return f, nil
	}
	f, err := os.Open(b.segPath(seg))
	if err != nil {
		return nil, fmt.Errorf("open buffer segment: %w", err)
	}
	b.readers[seg] = f
	return f, nil
}

// Ack marks the record at p, and every earlier one, delivered. Their space
// counts as free at once; their files are deleted by Release.
func (b *Buffer) Ack(p Pos) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.acked <= p.Index && b.acked-b.base < uint64(len(b.recs)) {
		b.used -= b.recs[b.acked-b.base].size
		b.acked++
	}
	b.notifyLocked()
	b.updateMetricsLocked()
}

// Len returns the number of unacknowledged records.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.base + uint64(len(b.recs)) - b.acked)
}

// Release deletes the segment files holding only records before p (which
// must have been acknowledged). The active segment is never deleted.
func (b *Buffer) Release(p Pos) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Index >= b.acked {
		return fmt.Errorf("release buffer: record %d not acknowledged", p.Index)
	}
	var errs []error
	n := 0
	for n < len(b.recs) && b.recs[n].seg < p.Seg && b.base+uint64(n) < b.acked {
		n++
	}
	// Only whole segments are deleted.
	for n > 0 && n < len(b.recs) && b.recs[n].seg == b.recs[n-1].seg {
		n--
	}
	var dead []uint64
	for _, r := range b.recs[:n] {
		if len(dead) == 0 || dead[len(dead)-1] != r.seg {
			dead = append(dead, r.seg)
		}
	}
	for _, seg := range dead {
		if seg == b.wSeg {
			continue
		}
		if f := b.readers[seg]; f != nil {
			f.Close()
			delete(b.readers, seg)
		}
		if err := os.Remove(b.segPath(seg)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove buffer segment: %w", err))
		}
	}
	b.recs = slices.Delete(b.recs, 0, n)
	b.base += uint64(n)
	return errors.Join(errs...)
}

// Close closes the files; blocked calls return ErrClosed.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.notifyLocked()
	var errs []error
	if b.w != nil {
		errs = append(errs, b.w.Close())
	}
	for _, f := range b.readers {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Unacked calls fn for every unacknowledged record, oldest first (used on
// start-up to learn what the buffer already holds). Appends made during the
// walk may or may not be visited.
func (b *Buffer) Unacked(fn func(Entry) error) error {
	b.mu.Lock()
	start := b.acked
	recs := slices.Clone(b.recs[b.acked-b.base:])
	b.mu.Unlock()
	for i, r := range recs {
		b.mu.Lock()
		f, err := b.readerLocked(r.seg)
		b.mu.Unlock()
		if err != nil {
			return err
		}
		data := make([]byte, r.size)
		if _, err := f.ReadAt(data, r.off+headerSize); err != nil {
			return fmt.Errorf("read buffer record: %w", err)
		}
		if err := fn(Entry{Pos: Pos{Seg: r.seg, Index: start + uint64(i)}, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
