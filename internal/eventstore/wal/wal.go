// Package wal is the event store's write-ahead log: CRC-protected records in
// numbered segment files, appended with group commit (concurrent writers share
// one write and one fsync), replayed on open, with a torn tail truncated and
// corruption anywhere else reported as a *CorruptionError.
//
// A WAL is safe for concurrent use: Append, Checkpoint, Size and Close may be
// called from any goroutine. Inspect and Repair work on a directory that no
// open WAL is using.
//
// The on-disk format is described in docs/format/wal.md.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SyncPolicy says when appended records are fsynced.
type SyncPolicy string

// Sync policies.
const (
	// SyncAlways fsyncs before Append returns; concurrent appends share one
	// fsync (group commit). The default.
	SyncAlways SyncPolicy = "always"
	// SyncInterval writes before Append returns and fsyncs in the background
	// every SyncInterval: a machine crash may lose that much.
	SyncInterval SyncPolicy = "interval"
	// SyncNone never fsyncs except when a segment is sealed or the WAL closes.
	SyncNone SyncPolicy = "none"
)

const (
	segmentMagic   = "SLWAL\x00\x00\x01"
	headerSize     = len(segmentMagic)
	recordHeader   = 16
	segmentSuffix  = ".wal"
	maxRecordBytes = 256 << 20
)

// MaxRecordSize is the largest payload Append accepts.
const MaxRecordSize = maxRecordBytes

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("wal: closed")

// CorruptionError reports damaged data that is not a torn tail: start-up must
// stop and an operator must run the repair tool (which truncates the log at
// Offset, losing the records after it).
type CorruptionError struct {
	Dir     string
	Segment int
	Offset  int64
	Reason  string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal corruption in %s segment %d at offset %d: %s (inspect with `sightline tool wal-dump`, truncate with `sightline tool wal-repair`, which drops every record after this point)",
		e.Dir, e.Segment, e.Offset, e.Reason)
}

// Options configure a WAL.
type Options struct {
	// SegmentSize is the size after which a segment is sealed and a new one
	// started. Default 64 MiB.
	SegmentSize int64
	// Sync is the fsync policy. Default SyncAlways.
	Sync SyncPolicy
	// SyncInterval is the background fsync period for SyncInterval. Default 1s.
	SyncInterval time.Duration
	// MaxPendingBytes bounds the bytes waiting for the next write; appenders
	// block beyond it. Default 64 MiB.
	MaxPendingBytes int
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{SegmentSize: 64 << 20, Sync: SyncAlways, SyncInterval: time.Second, MaxPendingBytes: 64 << 20}
}

func (o *Options) applyDefaults() {
	d := DefaultOptions()
	if o.SegmentSize == 0 {
		o.SegmentSize = d.SegmentSize
	}
	if o.Sync == "" {
		o.Sync = d.Sync
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = d.SyncInterval
	}
	if o.MaxPendingBytes == 0 {
		o.MaxPendingBytes = d.MaxPendingBytes
	}
}

// Validate reports invalid options.
func (o Options) Validate() error {
	switch o.Sync {
	case SyncAlways, SyncInterval, SyncNone, "":
	default:
		return fmt.Errorf("validate wal options: unknown fsync policy %q (want always, interval or none)", o.Sync)
	}
	if o.SegmentSize < 0 || (o.SegmentSize > 0 && o.SegmentSize < 4096) {
		return fmt.Errorf("validate wal options: segment size %d is below 4096", o.SegmentSize)
	}
	if o.SyncInterval < 0 || o.MaxPendingBytes < 0 {
		return errors.New("validate wal options: negative sync interval or pending bytes")
	}
	return nil
}

type segment struct {
	index   int
	lastSeq uint64 // 0 when the segment holds no record
	size    int64
}

type batch struct {
	done chan struct{}
	err  error
}

// rotation is a Checkpoint's request that the writer retire the active
// segment once every record in it is covered; done is closed when the
// writer has acted on it.
type rotation struct {
	done chan struct{}
	err  error
}

// WAL is an open write-ahead log.
type WAL struct {
	dir  string
	opts Options

	mu   sync.Mutex // guards the fields below
	cond *sync.Cond // signalled when pending drains
	// pending holds encoded records not yet written; cur is the batch their
	// writers wait on.
	pending []byte
	cur     *batch
	nextSeq uint64
	closed  bool
	err     error // sticky write/sync failure
	segs    []segment
	size    int64
	// ckpt is the highest sequence number passed to Checkpoint; rot is the
	// pending request to retire the active segment, nil when none.
	ckpt uint64
	rot  *rotation

	// Owned by the flusher goroutine.
	f     *os.File
	spare []byte

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// Replay statistics from Open.
	replayed, tornBytes int64
	syncs               atomic.Int64 // fsyncs of record data, for tests and metrics
}

// Syncs returns how many fsyncs of record data the WAL has issued.
func (w *WAL) Syncs() int64 { return w.syncs.Load() }

// ReplayFunc receives each record with seq > the checkpoint passed to Open.
// payload stays valid after the call and is never modified (each segment is
// read into its own buffer), so callers may keep references into it.
type ReplayFunc func(seq uint64, payload []byte) error

// Open opens (creating if needed) the WAL in dir, replays every record with a
// sequence number above checkpoint through fn, truncates a torn tail and
// starts a fresh segment for appends. Corruption other than a torn tail
// returns a *CorruptionError.
func Open(dir string, opts Options, checkpoint uint64, fn ReplayFunc) (w *WAL, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.applyDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create wal dir: %w", err)
	}
	w = &WAL{dir: dir, opts: opts, cur: &batch{done: make(chan struct{})},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	idx, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var lastSeq uint64
	for i, n := range idx {
		last := i == len(idx)-1
		data, err := os.ReadFile(segmentPath(dir, n))
		if err != nil {
			return nil, fmt.Errorf("read wal segment: %w", err)
		}
		res := scanSegment(data, last, lastSeq, func(seq uint64, p []byte) error {
			if seq <= checkpoint {
				return nil
			}
			w.replayed += int64(len(p))
			if fn == nil {
				return nil
			}
			return fn(seq, p)
		})
		if res.cbErr != nil {
			return nil, fmt.Errorf("replay wal segment %d: %w", n, res.cbErr)
		}
		if res.corrupt != "" {
			if !res.torn {
				return nil, &CorruptionError{Dir: dir, Segment: n, Offset: res.end, Reason: res.corrupt}
			}
			w.tornBytes += int64(len(data)) - res.end
			if err := truncateSegment(dir, n, res.end); err != nil {
				return nil, err
			}
			data = data[:res.end]
		}
		if res.lastSeq > 0 {
			lastSeq = res.lastSeq
		}
		w.segs = append(w.segs, segment{index: n, lastSeq: res.lastSeq, size: int64(len(data))})
		w.size += int64(len(data))
	}
	w.nextSeq = max(lastSeq, checkpoint) + 1
	next := 1
	if len(idx) > 0 {
		next = idx[len(idx)-1] + 1
	}
	if err := w.createSegment(next); err != nil {
		return nil, err
	}
	// Segments whose records are all covered by the checkpoint (or that hold
	// none) are never needed again: the checkpoint was durable before Open.
	w.ckpt = checkpoint
	w.dropCovered(checkpoint)
	go w.run()
	return w, nil
}

// dropCovered deletes every segment but the active one whose records all
// have sequence numbers ≤ seq (segments without records included). Failures
// to delete leave the file for a later call or the next Open.
func (w *WAL) dropCovered(seq uint64) error {
	w.mu.Lock()
	var del []segment
	keep := w.segs[:0:0]
	for i, s := range w.segs {
		if i < len(w.segs)-1 && s.lastSeq <= seq {
			del = append(del, s)
			w.size -= s.size
			continue
		}
		keep = append(keep, s)
	}
	w.segs = keep
	w.mu.Unlock()
	var errs []error
	for _, s := range del {
		if err := os.Remove(segmentPath(w.dir, s.index)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove wal segment: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ReplayedBytes returns the payload bytes replayed by Open and the bytes of
// torn tail it truncated.
func (w *WAL) ReplayedBytes() (replayed, tornTail int64) { return w.replayed, w.tornBytes }

// LastSeq returns the sequence number of the last appended record.
func (w *WAL) LastSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nextSeq - 1
}

// Size returns the total bytes of all segments.
func (w *WAL) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size + int64(len(w.pending))
}

// Append adds one record and returns its sequence number once it is durable
// under the configured policy. Many concurrent Appends share one write and
// one fsync.
func (w *WAL) Append(payload []byte) (uint64, error) {
	if len(payload) == 0 || len(payload) > maxRecordBytes {
		return 0, fmt.Errorf("append wal record: payload size %d outside 1..%d", len(payload), maxRecordBytes)
	}
	w.mu.Lock()
	for len(w.pending) > w.opts.MaxPendingBytes && !w.closed && w.err == nil {
		w.cond.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return 0, ErrClosed
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return 0, err
	}
	seq := w.nextSeq
	w.nextSeq++
	w.pending = appendRecord(w.pending, seq, payload)
	b := w.cur
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-b.done
	if b.err != nil {
		return 0, b.err
	}
	return seq, nil
}

func appendRecord(dst []byte, seq uint64, p []byte) []byte {
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(p)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, p)
	binary.LittleEndian.PutUint32(h[4:], crc)
	dst = append(dst, h[:]...)
	return append(dst, p...)
}

func (w *WAL) run() {
	defer close(w.done)
	var tick <-chan time.Time
	if w.opts.Sync == SyncInterval {
		t := time.NewTicker(w.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	dirty := false
	for {
		stopping := false
		select {
		case <-w.kick:
		case <-tick:
			if dirty {
				w.failIf(w.f.Sync())
				w.syncs.Add(1)
				dirty = false
			}
			continue
		case <-w.stop:
			stopping = true
		}
		w.mu.Lock()
		buf, b := w.pending, w.cur
		w.pending, w.cur = w.spare[:0], &batch{done: make(chan struct{})}
		lastSeq := w.nextSeq - 1
		werr := w.err
		rot, ckpt := w.rot, w.ckpt
		w.rot = nil
		w.cond.Broadcast()
		w.mu.Unlock()
		if rot != nil {
			// Before this batch's write, so its records (all above the
			// active segment's) go to the fresh segment.
			rot.err = werr
			if werr == nil {
				rot.err = w.retireActive(ckpt)
			}
			close(rot.done)
		}
		if len(buf) > 0 && werr == nil {
			werr = w.write(buf, lastSeq)
			dirty = true
			if werr == nil && w.opts.Sync == SyncAlways {
				werr = w.f.Sync()
				w.syncs.Add(1)
				dirty = false
			}
			w.failIf(werr)
		}
		b.err = werr
		close(b.done)
		w.spare = buf
		if stopping {
			return
		}
	}
}

func (w *WAL) failIf(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = fmt.Errorf("write wal: %w", err)
	}
	w.cond.Broadcast()
	w.mu.Unlock()
}

// write appends buf to the current segment, sealing it first when full.
func (w *WAL) write(buf []byte, lastSeq uint64) error {
	w.mu.Lock()
	cur := w.segs[len(w.segs)-1]
	w.mu.Unlock()
	if cur.size >= w.opts.SegmentSize {
		if err := w.f.Sync(); err != nil {
			return err
		}
		if err := w.f.Close(); err != nil {
			return err
		}
		if err := w.createSegment(cur.index + 1); err != nil {
			return err
		}
	}
	if _, err := w.f.Write(buf); err != nil {
		return err
	}
	w.mu.Lock()
	s := &w.segs[len(w.segs)-1]
	s.size += int64(len(buf))
	s.lastSeq = lastSeq
	w.size += int64(len(buf))
	w.mu.Unlock()
	return nil
}

// retireActive replaces the active segment by a fresh one and deletes it
// when every record in it has a sequence number ≤ ckpt, so a checkpoint that
// covers all written rows leaves no record bytes on disk. Only the writer
// goroutine calls it (it owns w.f). The fresh segment is durable before the
// old one goes; a crash in between leaves both, and the next Open skips and
// deletes the covered one.
func (w *WAL) retireActive(ckpt uint64) error {
	w.mu.Lock()
	cur := w.segs[len(w.segs)-1]
	w.mu.Unlock()
	if cur.lastSeq == 0 || cur.lastSeq > ckpt {
		return nil
	}
	old := w.f
	if err := w.createSegment(cur.index + 1); err != nil {
		return fmt.Errorf("retire checkpointed wal segment: %w", err)
	}
	// Its records are in durable parts: no fsync is needed before removal.
	cerr := old.Close()
	// Now sealed, the old segment may already have been dropped (and its
	// size subtracted) by a concurrent Checkpoint's dropCovered.
	w.mu.Lock()
	found := false
	w.segs = slices.DeleteFunc(w.segs, func(s segment) bool {
		found = found || s.index == cur.index
		return s.index == cur.index
	})
	if found {
		w.size -= cur.size
	}
	w.mu.Unlock()
	if found {
		if err := os.Remove(segmentPath(w.dir, cur.index)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove checkpointed wal segment: %w", err)
		}
	}
	if cerr != nil {
		return fmt.Errorf("close checkpointed wal segment: %w", cerr)
	}
	return nil
}

// createSegment creates segment index durably (header written and fsynced,
// directory fsynced) and makes it the active one. On failure it removes
// what it created, so a retry may use the same index.
func (w *WAL) createSegment(index int) error {
	p := segmentPath(w.dir, index)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create wal segment: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(p)
		return err
	}
	if _, err := f.Write([]byte(segmentMagic)); err != nil {
		return fail(fmt.Errorf("write wal segment header: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync wal segment: %w", err))
	}
	if err := syncDir(w.dir); err != nil {
		return fail(err)
	}
	w.f = f
	w.mu.Lock()
	w.segs = append(w.segs, segment{index: index, size: int64(headerSize)})
	w.size += int64(headerSize)
	w.mu.Unlock()
	return nil
}

// Checkpoint declares every record with a sequence number ≤ seq durably
// stored elsewhere (the caller must have made it so before calling): it
// deletes the sealed segments holding only such records and, when the
// active segment holds records and all are covered, has the writer start a
// fresh segment and delete that one too, returning once it has. Records
// above seq are never touched.
func (w *WAL) Checkpoint(seq uint64) error {
	err := w.dropCovered(seq)
	w.mu.Lock()
	var rot *rotation
	if act := w.segs[len(w.segs)-1]; !w.closed && w.err == nil && act.lastSeq != 0 && act.lastSeq <= seq {
		w.ckpt = max(w.ckpt, seq)
		if w.rot == nil {
			w.rot = &rotation{done: make(chan struct{})}
		}
		rot = w.rot
	}
	w.mu.Unlock()
	if rot == nil {
		return err
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case <-rot.done:
	case <-w.done: // the writer stopped; it acts on requests made before Close
	}
	select {
	case <-rot.done:
		err = errors.Join(err, rot.err)
	default:
	}
	return err
}

// Close flushes pending records, fsyncs and closes the WAL.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close wal: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// SegmentBytes returns the total size of the segment files in dir (0 when
// dir does not exist): what Open will read.
func SegmentBytes(dir string) (int64, error) {
	idx, err := listSegments(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	var n int64
	for _, i := range idx {
		fi, err := os.Stat(segmentPath(dir, i))
		if err != nil {
			return 0, fmt.Errorf("stat wal segment: %w", err)
		}
		n += fi.Size()
	}
	return n, nil
}

func segmentPath(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("%08d%s", index, segmentSuffix))
}

func listSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal segments: %w", err)
	}
	var idx []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(name)
		if err != nil || n <= 0 {
			continue
		}
		idx = append(idx, n)
	}
	slices.Sort(idx)
	return idx, nil
}

func truncateSegment(dir string, index int, size int64) error {
	p := segmentPath(dir, index)
	if size < int64(headerSize) {
		// Not even a complete header: the segment was being created.
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove torn wal segment: %w", err)
		}
		return syncDir(dir)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("truncate wal segment: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate wal segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync wal segment: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

type scanResult struct {
	records  int
	firstSeq uint64
	lastSeq  uint64
	// end is the offset just past the last good record (or the corruption).
	end     int64
	corrupt string // empty when the segment is clean
	torn    bool   // the corruption is a torn tail that may be truncated
	cbErr   error
}

// scanSegment validates a segment's bytes and calls fn for each good record.
// A damaged record in the last segment is a torn tail when nothing after it
// could be a later record: it runs past the end of the file, it is the last
// record in the file, or the rest of the file is zeros.
func scanSegment(data []byte, last bool, prevSeq uint64, fn ReplayFunc) (r scanResult) {
	if len(data) < headerSize {
		r.corrupt, r.torn = "segment shorter than its header", last
		return r
	}
	if string(data[:headerSize]) != segmentMagic {
		r.corrupt = "bad segment magic"
		return r
	}
	off := headerSize
	r.end = int64(off)
	for off < len(data) {
		rest := data[off:]
		bad := ""
		tornOK := false
		switch {
		case len(rest) < recordHeader:
			bad, tornOK = "truncated record header", true
		default:
			n := int(binary.LittleEndian.Uint32(rest[0:]))
			crc := binary.LittleEndian.Uint32(rest[4:])
			seq := binary.LittleEndian.Uint64(rest[8:])
			switch {
			case n == 0 || n > maxRecordBytes:
				bad = fmt.Sprintf("invalid record length %d", n)
			case recordHeader+n > len(rest):
				bad, tornOK = fmt.Sprintf("record of %d bytes runs past end of segment", n), true
			default:
				c := crc32.Update(0, castagnoli, rest[8:16])
				c = crc32.Update(c, castagnoli, rest[recordHeader:recordHeader+n])
				switch {
				case c != crc:
					bad = "record checksum mismatch"
					tornOK = recordHeader+n == len(rest)
				case seq <= prevSeq:
					bad = fmt.Sprintf("sequence %d not above previous %d", seq, prevSeq)
				}
			}
			if bad == "" {
				if fn != nil {
					if err := fn(seq, rest[recordHeader:recordHeader+n]); err != nil {
						r.cbErr = err
						return r
					}
				}
				if r.records == 0 {
					r.firstSeq = seq
				}
				r.records++
				r.lastSeq, prevSeq = seq, seq
				off += recordHeader + n
				r.end = int64(off)
				continue
			}
		}
		r.corrupt = bad
		r.torn = last && (tornOK || allZero(rest))
		return r
	}
	return r
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
