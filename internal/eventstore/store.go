// Package eventstore is sightline's embedded columnar store for logs, spans
// and span events (model.Event).
//
// Write path: Append validates a batch, writes it to the WAL (package wal;
// acknowledged only once fsynced under the default policy, with concurrent
// appenders sharing one fsync) and inserts it into the in-memory head, where
// it is searchable at once. A background loop flushes the head into
// immutable on-disk parts, one per day partition
// (partitions/<YYYYMMDD>/parts/<id>/), published atomically in parts.json
// together with the WAL position they cover; covered WAL segments are then
// deleted. Small parts of a day are merged in the background; retention
// drops whole partitions by age and total size.
//
// Parts hold blocks of one stream's rows sorted by time, each column encoded
// on its own (const, dictionary, bit-packed/delta ints, hex-as-binary,
// plain) and compressed with zstd, with per-block token bloom filters on
// string columns, exact filters on span ids and a per-part trace directory.
// Query prunes partitions → parts → streams (label matchers) → blocks (time,
// headers, blooms) before reading column data. The formats are described in
// docs/format/part.md and docs/format/wal.md.
//
// API: Open(dir, Options), then
//
//	Append(ctx, []model.Event)            durable once it returns (fsync policy)
//	Query(ctx, Query, func(*model.Event) bool) (QueryResult, error)
//	                                      ordered, limited, resumable by cursor
//	Hits(ctx, HitsQuery)                  counts per time bucket [and group]
//	FieldValues / FieldNames / LabelNames / LabelValues / Streams
//	TraceByID(ctx, tenant, id, start, end)
//	CheckTime, Flush, MergeAll, ApplyRetention, Stats, ColumnStats, Ready, Close
//
// and, for `sightline tool` on a closed data directory, DumpWAL and
// RepairWAL. Every method of a Store is safe for concurrent use. Errors
// callers branch on: ErrOverloaded (the memory budget is full: retry later,
// HTTP 429 / RESOURCE_EXHAUSTED), ErrTooOld and ErrTooNew (row timestamps
// outside the accepted window: HTTP 400), ErrClosed, and
// *wal.CorruptionError from Open (run the repair tool).
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/eventstore/wal"
	"github.com/sightline/sightline/internal/model"
)

// Errors callers branch on.
var (
	// ErrOverloaded means the head is over its memory budget; the write was
	// not accepted and may be retried later.
	ErrOverloaded = errors.New("event store overloaded: unflushed rows exceed the memory budget (events max head bytes); retry later")
	// ErrTooOld means a row is older than the retention window.
	ErrTooOld = errors.New("row timestamp is older than the retention period")
	// ErrTooNew means a row is further in the future than allowed.
	ErrTooNew = errors.New("row timestamp is too far in the future")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("event store closed")
)

// Options configure a Store. The zero value of a field selects its default.
type Options struct {
	// WAL configures the write-ahead log (fsync policy, segment size).
	WAL wal.Options
	// MaxHeadBytes is the memory budget for rows not yet in parts; Append
	// returns ErrOverloaded beyond it. Default 512 MiB.
	MaxHeadBytes int64
	// FlushBytes flushes the head when it holds this much. Default 64 MiB,
	// capped at half of MaxHeadBytes.
	FlushBytes int64
	// FlushInterval flushes the head when it is this old. Default 10s. Rows
	// are searchable before they are flushed.
	FlushInterval time.Duration
	// Retention drops partitions older than this and refuses older rows.
	// Default 30 days; negative keeps everything.
	Retention time.Duration
	// MaxDiskBytes drops the oldest partitions while parts exceed it.
	// 0 means no limit.
	MaxDiskBytes int64
	// MaxFuture refuses rows this far ahead of the clock. Default 1h.
	MaxFuture time.Duration
	// MergeMinParts merges a day's small parts once it has this many.
	// Default 6.
	MergeMinParts int
	// MaxMergeParts caps the parts merged at once. Default 16.
	MaxMergeParts int
	// MaxMergeRows caps the rows of a merge's inputs. Default 25M, which
	// keeps a merged part's index (≈19 B per span row with the trace
	// directory) well under maxIndexRawBytes.
	MaxMergeRows int64
	// ColdAfter compacts a day partition that has received no new part
	// for this long: its parts are merged again, string columns at a
	// higher zstd level. Default 10m; negative never compacts.
	ColdAfter time.Duration
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	fs fileSystem // tests inject faults here
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{WAL: wal.DefaultOptions(), MaxHeadBytes: 512 << 20, FlushBytes: 64 << 20,
		FlushInterval: 10 * time.Second, Retention: 30 * 24 * time.Hour, MaxFuture: time.Hour,
		MergeMinParts: 6, MaxMergeParts: 16, MaxMergeRows: 25_000_000, ColdAfter: 10 * time.Minute}
}

// Validate reports invalid settings.
func (o Options) Validate() error {
	if err := o.WAL.Validate(); err != nil {
		return fmt.Errorf("validate event store options: %w", err)
	}
	if o.MaxHeadBytes < 0 || o.FlushBytes < 0 || o.FlushInterval < 0 || o.MaxDiskBytes < 0 || o.MaxFuture < 0 {
		return errors.New("validate event store options: sizes and durations must not be negative")
	}
	if o.MergeMinParts == 1 || o.MergeMinParts < 0 || o.MaxMergeParts == 1 || o.MaxMergeParts < 0 {
		return errors.New("validate event store options: merge part counts must be at least 2")
	}
	return nil
}

func (o *Options) applyDefaults() {
	d := DefaultOptions()
	if o.MaxHeadBytes == 0 {
		o.MaxHeadBytes = d.MaxHeadBytes
	}
	if o.FlushBytes == 0 {
		o.FlushBytes = d.FlushBytes
	}
	// Flush well before the budget is reached so appends rarely see
	// ErrOverloaded.
	o.FlushBytes = max(min(o.FlushBytes, o.MaxHeadBytes/2), 1)
	if o.FlushInterval == 0 {
		o.FlushInterval = d.FlushInterval
	}
	if o.Retention == 0 {
		o.Retention = d.Retention
	}
	if o.MaxFuture == 0 {
		o.MaxFuture = d.MaxFuture
	}
	if o.MergeMinParts == 0 {
		o.MergeMinParts = d.MergeMinParts
	}
	if o.MaxMergeParts == 0 {
		o.MaxMergeParts = d.MaxMergeParts
	}
	if o.MaxMergeRows == 0 {
		o.MaxMergeRows = d.MaxMergeRows
	}
	if o.ColdAfter == 0 {
		o.ColdAfter = d.ColdAfter
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.fs == nil {
		o.fs = osFS{}
	}
}

// manifest is parts.json: the published parts and the WAL position they cover.
type manifest struct {
	Version    int        `json:"version"`
	WALSeq     uint64     `json:"wal_seq"`
	NextPartID uint64     `json:"next_part_id"`
	Parts      []partInfo `json:"parts"`
}

const manifestFile = "parts.json"

// partRef counts the queries using a part so a dropped part's files are
// removed only when the last one finishes.
type partRef struct {
	p       *part
	refs    atomic.Int32 // 1 while published, +1 per query
	dropped atomic.Bool
	fs      fileSystem
}

func (r *partRef) acquire() { r.refs.Add(1) }
func (r *partRef) release() {
	if r.refs.Add(-1) == 0 {
		r.p.close()
		if r.dropped.Load() {
			r.fs.RemoveAll(r.p.dir)
			// The partition's parts/ and day directories, if now empty.
			os.Remove(filepath.Dir(r.p.dir))
			os.Remove(filepath.Dir(filepath.Dir(r.p.dir)))
		}
	}
}

// Store is an open event store.
type Store struct {
	dir  string
	opts Options
	fs   fileSystem
	log  *slog.Logger
	m    *metrics
	wal  *wal.WAL

	// appendMu is held shared by Append from resolving its streams to the
	// head insert, and exclusively to freeze the head (so a frozen head
	// holds exactly the rows of WAL records up to its seq) and to sweep
	// the stream registry.
	appendMu sync.RWMutex

	mu       sync.RWMutex // guards head, flushing, parts, closed
	head     *head
	flushing []*head // frozen heads being written, oldest first
	parts    []*partRef
	closed   bool

	// pubMu serializes flushes, retention and the publishing of merges
	// (the writers of man). A merge writes its part without it, so a long
	// merge never holds up flushes.
	pubMu sync.Mutex
	// mergeMu runs one merge at a time; mergeHold (guarded by it) is when
	// merges may run again after one failed.
	mergeMu   sync.Mutex
	mergeHold time.Time
	mergeWait time.Duration
	man       manifest
	nextID    uint64
	// opened and dayWritten (the last time a flush added a part to each
	// day partition) tell compactOnce which partitions are quiet. pubMu.
	opened     time.Time
	dayWritten map[string]time.Time

	streams streamRegistry

	kick      chan struct{}
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Open opens or creates a store in dir, removes unpublished part files left
// by a crash and replays the WAL. A damaged WAL other than a torn tail
// returns a *wal.CorruptionError; a damaged published part returns an error
// naming it.
func Open(dir string, opts Options) (_ *Store, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.applyDefaults()
	s := &Store{dir: dir, opts: opts, fs: opts.fs, log: opts.Logger,
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
		opened: opts.Now(), dayWritten: map[string]time.Time{}}
	s.m = newMetrics(opts.Registerer, s)
	s.head = newHead(opts.Now())
	defer func() {
		if err != nil {
			for _, r := range s.parts {
				r.p.close()
			}
			if s.wal != nil {
				err = errors.Join(err, s.wal.Close())
			}
		}
	}()
	if err := s.fs.MkdirAll(filepath.Join(dir, "partitions")); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	if err := s.loadManifest(); err != nil {
		return nil, err
	}
	if err := s.removeOrphans(); err != nil {
		return nil, err
	}
	for _, pi := range s.man.Parts {
		p, err := openPart(s.partDir(pi), pi, s)
		if err != nil {
			return nil, fmt.Errorf("open event store: %w (the part is published in %s; move it away to start without it)", err, manifestFile)
		}
		r := &partRef{p: p, fs: s.fs}
		r.refs.Store(1)
		s.parts = append(s.parts, r)
	}
	walDir := filepath.Join(dir, "wal")
	walBytes, err := wal.SegmentBytes(walDir)
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	restoreGC := replayHeadroom(replayHeadBytes(walBytes))
	rp := &replayer{s: s, sc: streamCache{res: s}}
	s.wal, err = wal.Open(walDir, opts.WAL, s.man.WALSeq, rp.record)
	restoreGC()
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	replayed, _ := s.wal.ReplayedBytes()
	s.m.walReplayBytes.Add(float64(replayed))
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// replayer inserts the rows of WAL records into the head during Open,
// reusing its stream cache and row scratch from one record to the next.
type replayer struct {
	s       *Store
	sc      streamCache
	rows    []headRow
	streams []*stream
}

// record is the wal.ReplayFunc: p stays valid, so the head's rows may alias
// it.
func (rp *replayer) record(seq uint64, p []byte) error {
	var err error
	rp.rows, rp.streams, err = indexBatch(p, &rp.sc, rp.rows[:0], rp.streams[:0])
	if err != nil {
		return fmt.Errorf("decode wal record %d: %w", seq, err)
	}
	rp.s.head.insert(rp.rows, rp.streams, len(p))
	return nil
}

func (s *Store) partDir(pi partInfo) string {
	return filepath.Join(s.dir, "partitions", pi.Day, "parts", pi.ID)
}

func (s *Store) loadManifest() error {
	b, err := os.ReadFile(filepath.Join(s.dir, manifestFile))
	if os.IsNotExist(err) {
		s.man = manifest{Version: 1, NextPartID: 1}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", manifestFile, err)
	}
	if err := json.Unmarshal(b, &s.man); err != nil {
		return fmt.Errorf("decode %s: %w", manifestFile, err)
	}
	if s.man.Version != 1 {
		return fmt.Errorf("decode %s: unsupported version %d", manifestFile, s.man.Version)
	}
	return nil
}

// removeOrphans deletes tmp/ and part directories parts.json does not list.
func (s *Store) removeOrphans() error {
	if err := s.fs.RemoveAll(filepath.Join(s.dir, "tmp")); err != nil {
		return fmt.Errorf("remove tmp parts: %w", err)
	}
	os.Remove(filepath.Join(s.dir, manifestFile+".tmp"))
	known := map[string]bool{}
	for _, p := range s.man.Parts {
		known[p.Day+"/"+p.ID] = true
	}
	days, err := os.ReadDir(filepath.Join(s.dir, "partitions"))
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	for _, d := range days {
		pdir := filepath.Join(s.dir, "partitions", d.Name(), "parts")
		ents, _ := os.ReadDir(pdir)
		live := 0
		for _, e := range ents {
			if known[d.Name()+"/"+e.Name()] {
				live++
				continue
			}
			s.log.Info("removing unpublished event part", "dir", filepath.Join(pdir, e.Name()))
			if err := s.fs.RemoveAll(filepath.Join(pdir, e.Name())); err != nil {
				return fmt.Errorf("remove orphan part: %w", err)
			}
		}
		if live == 0 {
			s.fs.RemoveAll(filepath.Join(s.dir, "partitions", d.Name()))
		}
	}
	return nil
}

// resolve implements streamResolver with the store's stream registry.
func (s *Store) resolve(key []byte) (*stream, error) {
	return s.streams.resolve(key, parseStreamKey)
}

// CheckTime reports whether a row with timestamp t (Unix ns) would be
// accepted now: nil, or an error wrapping ErrTooOld or ErrTooNew.
func (s *Store) CheckTime(t int64) error {
	now := s.opts.Now()
	if s.opts.Retention > 0 {
		if lim := now.Add(-s.opts.Retention).UnixNano(); t < lim {
			return fmt.Errorf("%w: %s is before %s (events retention %s)", ErrTooOld,
				time.Unix(0, t).UTC().Format(time.RFC3339), time.Unix(0, lim).UTC().Format(time.RFC3339), s.opts.Retention)
		}
	}
	if lim := now.Add(s.opts.MaxFuture).UnixNano(); t > lim {
		return fmt.Errorf("%w: %s is after %s (events max future %s)", ErrTooNew,
			time.Unix(0, t).UTC().Format(time.RFC3339), time.Unix(0, lim).UTC().Format(time.RFC3339), s.opts.MaxFuture)
	}
	return nil
}

// Append stores rows durably (per the WAL fsync policy) and makes them
// searchable. The batch is accepted or refused as a whole: a row failing
// validation or CheckTime refuses the batch with an error naming the row.
// The caller may reuse rows' memory once Append returns.
func (s *Store) Append(ctx context.Context, rows []model.Event) error {
	if len(rows) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The clock is read once per batch; a row outside the window is
	// checked again by CheckTime for its error.
	now := s.opts.Now()
	lo, hi := int64(math.MinInt64), now.Add(s.opts.MaxFuture).UnixNano()
	if s.opts.Retention > 0 {
		lo = now.Add(-s.opts.Retention).UnixNano()
	}
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			s.m.rejected.WithLabelValues("invalid").Add(float64(len(rows)))
			return fmt.Errorf("append rows: row %d: %w", i, err)
		}
		// Rows of a batch mostly repeat the previous row's stream.
		if i == 0 || rows[i].Tenant != rows[i-1].Tenant || !labels.Equal(rows[i].Stream, rows[i-1].Stream) {
			if err := checkKeyBytes(&rows[i]); err != nil {
				s.m.rejected.WithLabelValues("invalid").Add(float64(len(rows)))
				return fmt.Errorf("append rows: row %d: %w", i, err)
			}
		}
		if t := rows[i].Time; t >= lo && t <= hi {
			continue
		}
		if err := s.CheckTime(rows[i].Time); err != nil {
			reason := "too_old"
			if errors.Is(err, ErrTooNew) {
				reason = "too_new"
			}
			s.m.rejected.WithLabelValues(reason).Add(float64(len(rows)))
			return fmt.Errorf("append rows: row %d: %w", i, err)
		}
	}
	if s.memBytes() >= s.opts.MaxHeadBytes {
		s.trigger()
		s.m.rejected.WithLabelValues("overloaded").Add(float64(len(rows)))
		return ErrOverloaded
	}
	// Encode into pooled scratch for the WAL (which copies it); the head
	// keeps an exact-size copy of the rows without their stream keys
	// (detachRows), since its rows live until the next flush.
	sb := encodeScratch.Get().(*[]byte)
	defer func() {
		if cap(*sb) <= maxScratchBytes {
			encodeScratch.Put(sb)
		}
	}()
	*sb = encodeBatch((*sb)[:0], rows)
	payload := *sb
	if len(payload) > wal.MaxRecordSize {
		return fmt.Errorf("append rows: batch of %d bytes exceeds %d; split it", len(payload), wal.MaxRecordSize)
	}
	// The streams are resolved under appendMu, so sweepStreams (holding it
	// exclusively) finds every stream an append holds in a head.
	s.appendMu.RLock()
	defer s.appendMu.RUnlock()
	sc := streamCache{res: s}
	hrows, streams, err := indexBatch(payload, &sc, nil, nil)
	if err != nil {
		return fmt.Errorf("append rows: %w", err)
	}
	headBytes := detachRows(hrows)
	s.mu.RLock()
	closed, h := s.closed, s.head
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if _, err := s.wal.Append(payload); err != nil {
		return fmt.Errorf("append rows: %w", err)
	}
	h.insert(hrows, streams, headBytes)
	s.m.rowsIngested.Add(float64(len(rows)))
	s.m.bytesIngested.Add(float64(len(payload)))
	if h.bytes.Load() >= s.opts.FlushBytes {
		s.trigger()
	}
	return nil
}

// encodeScratch holds buffers for encoding appended batches; ones grown
// past maxScratchBytes are dropped rather than pooled.
var encodeScratch = sync.Pool{New: func() any { b := make([]byte, 0, 256<<10); return &b }}

const maxScratchBytes = 8 << 20

// checkKeyBytes rejects tenants and stream labels holding the bytes 0xFE or
// 0xFF, which delimit stream keys (valid UTF-8 never contains them).
func checkKeyBytes(e *model.Event) error {
	bad := func(s string) bool { return strings.IndexByte(s, 0xfe) >= 0 || strings.IndexByte(s, 0xff) >= 0 }
	if bad(e.Tenant) {
		return fmt.Errorf("tenant %q contains bytes 0xFE/0xFF (not valid UTF-8)", e.Tenant)
	}
	var err error
	e.Stream.Range(func(l labels.Label) {
		if err == nil && (bad(l.Name) || bad(l.Value)) {
			err = fmt.Errorf("stream label %q=%q contains bytes 0xFE/0xFF (not valid UTF-8)", l.Name, l.Value)
		}
	})
	return err
}

func (s *Store) memBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.head.bytes.Load()
	for _, h := range s.flushing {
		n += h.bytes.Load()
	}
	return n
}

func (s *Store) trigger() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run is the background loop: flushes, merges, retention.
func (s *Store) run() {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var backoff time.Duration
	lastRetention := time.Time{}
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-tick.C:
		}
		if backoff > 0 {
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
		}
		s.mu.RLock()
		h := s.head
		pending := len(s.flushing) > 0
		s.mu.RUnlock()
		if pending || h.bytes.Load() >= s.opts.FlushBytes ||
			(h.rows.Load() > 0 && s.opts.Now().Sub(h.created) >= s.opts.FlushInterval) {
			if err := s.Flush(); err != nil {
				s.log.Error("flush event head", "err", err)
				backoff = min(max(2*backoff, time.Second), time.Minute)
				continue
			}
		}
		if err := s.mergeOnce(); err != nil {
			// mergeOnce pauses merges itself; flushes must go on.
			s.log.Error("merge event parts", "err", err)
		}
		backoff = 0
		if s.opts.Now().Sub(lastRetention) >= time.Minute {
			if err := s.ApplyRetention(); err != nil {
				s.log.Error("apply event retention", "err", err)
			}
			lastRetention = s.opts.Now()
		}
	}
}

// Flush writes every unflushed row into parts and checkpoints the WAL.
func (s *Store) Flush() error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.appendMu.Lock()
	s.mu.Lock()
	if s.head.rows.Load() > 0 {
		h := s.head
		h.seq = s.wal.LastSeq()
		s.flushing = append(s.flushing, h)
		s.head = newHead(s.opts.Now())
	}
	todo := slices.Clone(s.flushing)
	s.mu.Unlock()
	s.appendMu.Unlock()
	for _, h := range todo {
		if err := s.flushHead(h); err != nil {
			s.m.flushFailures.Inc()
			return err
		}
		s.m.flushes.Inc()
	}
	return nil
}

// flushHead writes a frozen head's parts and publishes them. pubMu held.
func (s *Store) flushHead(h *head) error {
	byDay := h.groupsByDay()
	days := make([]int32, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	man := s.man
	man.Parts = slices.Clone(s.man.Parts)
	var added []partInfo
	cleanup := func() {
		for _, pi := range added {
			s.fs.RemoveAll(s.partDir(pi))
		}
	}
	for _, d := range days {
		groups := byDay[d]
		pi, err := s.writeNewPart(&man, dayName(d), headSource(groups), levelFast)
		if err != nil {
			cleanup()
			return err
		}
		added = append(added, pi)
	}
	man.Parts = append(man.Parts, added...)
	man.WALSeq = max(man.WALSeq, h.seq)
	now := s.opts.Now()
	for _, pi := range added {
		s.dayWritten[pi.Day] = now
	}
	refs, err := s.openParts(added)
	if err != nil {
		cleanup()
		return err
	}
	if err := s.publish(man); err != nil {
		for _, r := range refs {
			r.p.close()
		}
		cleanup()
		return err
	}
	s.mu.Lock()
	s.parts = append(s.parts, refs...)
	s.flushing = slices.DeleteFunc(s.flushing, func(x *head) bool { return x == h })
	s.mu.Unlock()
	if err := s.wal.Checkpoint(man.WALSeq); err != nil {
		s.log.Warn("delete checkpointed wal segments", "err", err)
	}
	return nil
}

func (s *Store) openParts(infos []partInfo) ([]*partRef, error) {
	var refs []*partRef
	for _, pi := range infos {
		p, err := openPart(s.partDir(pi), pi, s)
		if err != nil {
			for _, r := range refs {
				r.p.close()
			}
			return nil, err
		}
		r := &partRef{p: p, fs: s.fs}
		r.refs.Store(1)
		refs = append(refs, r)
	}
	return refs, nil
}

// groupSource yields stream groups in key order; ok is false at the end.
type groupSource func() (g streamRows, ok bool, err error)

// writeNewPart writes a part under tmp/ and renames it into its partition.
func (s *Store) writeNewPart(man *manifest, day string, src groupSource, level zLevel) (partInfo, error) {
	return s.writePart(s.reservePartID(man), day, rowSegs(src), level)
}

// reservePartID takes the next part id and records it in man. IDs are
// never reused, even when a failed attempt was not published. pubMu held.
func (s *Store) reservePartID(man *manifest) string {
	s.nextID = max(s.nextID, man.NextPartID)
	id := fmt.Sprintf("%016x", s.nextID)
	s.nextID++
	man.NextPartID = s.nextID
	return id
}

// writePart writes src as part id of day, durably, without publishing it.
// It needs no lock: the id is reserved and the directory is the part's own.
func (s *Store) writePart(id, day string, src segSource, level zLevel) (partInfo, error) {
	tmp := filepath.Join(s.dir, "tmp", id)
	info, err := writePartSegs(s.fs, tmp, src, level)
	if err != nil {
		s.fs.RemoveAll(tmp)
		return info, fmt.Errorf("write part %s: %w", id, err)
	}
	info.ID, info.Day = id, day
	final := s.partDir(info)
	if err := s.fs.MkdirAll(filepath.Dir(final)); err != nil {
		s.fs.RemoveAll(tmp)
		return info, fmt.Errorf("create partition dir: %w", err)
	}
	if err := s.fs.Rename(tmp, final); err != nil {
		s.fs.RemoveAll(tmp)
		return info, fmt.Errorf("rename part %s: %w", id, err)
	}
	if err := s.fs.SyncDir(filepath.Dir(final)); err != nil {
		s.fs.RemoveAll(final)
		return info, fmt.Errorf("sync partition dir: %w", err)
	}
	return info, nil
}

// publish atomically replaces parts.json. pubMu held.
func (s *Store) publish(man manifest) error {
	sort.Slice(man.Parts, func(i, j int) bool { return man.Parts[i].ID < man.Parts[j].ID })
	b, err := json.MarshalIndent(man, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", manifestFile, err)
	}
	if err := writeFileAtomic(s.fs, filepath.Join(s.dir, manifestFile), b); err != nil {
		if !errors.Is(err, errDirSync) {
			return fmt.Errorf("publish parts: %w", err)
		}
		// The new parts.json is in place; only its directory entry may not be
		// durable yet. Carry on with it: undoing would leave memory and disk
		// disagreeing, and the next publish syncs the directory again.
		s.log.Warn("publish event parts: directory sync failed after rename", "err", err)
	}
	s.man = man
	return nil
}

// dropParts removes published parts (merged away or expired): their files go
// once no query uses them. s.mu must not be held.
func (s *Store) dropParts(ids map[string]bool) {
	s.mu.Lock()
	var gone []*partRef
	s.parts = slices.DeleteFunc(s.parts, func(r *partRef) bool {
		if ids[r.p.info.ID] {
			gone = append(gone, r)
			return true
		}
		return false
	})
	s.mu.Unlock()
	for _, r := range gone {
		r.dropped.Store(true)
		r.release()
	}
}

// ApplyRetention drops partitions older than the retention period, then the
// oldest partitions while the parts exceed MaxDiskBytes (the newest
// partition is always kept).
func (s *Store) ApplyRetention() error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	byDay := map[string]int64{}
	var total int64
	for _, p := range s.man.Parts {
		byDay[p.Day] += p.Bytes
		total += p.Bytes
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	drop := map[string]bool{}
	if s.opts.Retention > 0 {
		cutoff := s.opts.Now().Add(-s.opts.Retention).UTC().Format("20060102")
		for _, d := range days {
			// A day is dropped when all of it is older than the cutoff.
			if d < cutoff {
				drop[d] = true
				total -= byDay[d]
			}
		}
	}
	if s.opts.MaxDiskBytes > 0 {
		for _, d := range days[:max(len(days)-1, 0)] {
			if total <= s.opts.MaxDiskBytes {
				break
			}
			if !drop[d] {
				drop[d] = true
				total -= byDay[d]
			}
		}
	}
	if len(drop) == 0 {
		return nil
	}
	man := s.man
	man.Parts = nil
	ids := map[string]bool{}
	for _, p := range s.man.Parts {
		if drop[p.Day] {
			ids[p.ID] = true
			continue
		}
		man.Parts = append(man.Parts, p)
	}
	if err := s.publish(man); err != nil {
		return err
	}
	s.m.partsDropped.Add(float64(len(ids)))
	s.dropParts(ids)
	dropped := s.sweepStreams()
	s.log.Info("event retention dropped partitions", "days", strings.Join(slices.Sorted(mapsKeys(drop)), ","),
		"streams_released", dropped)
	return nil
}

// sweepStreams drops from the stream registry the streams that neither a
// head nor a published part refers to any more, and returns how many. Run
// after retention dropped parts, it keeps the registry's RAM to the
// streams still stored rather than every stream ever seen (pods come and
// go; each new one is a new stream). pubMu held, so parts change only
// through merges, whose outputs hold a subset of their inputs' streams.
func (s *Store) sweepStreams() int {
	var live ptrTable[stream]
	mark := func(st *stream) {
		h := ptrHash(st)
		if live.find(h, func(x *stream) bool { return x == st }) == nil {
			live.add(h, st, ptrHash)
		}
	}
	s.mu.RLock()
	parts := slices.Clone(s.parts)
	s.mu.RUnlock()
	for _, r := range parts {
		for _, st := range r.p.idx.streams {
			mark(st)
		}
	}
	// Appends resolve their streams under appendMu (shared): holding it,
	// every stream an append holds is in a head.
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	s.mu.RLock()
	heads := append([]*head{s.head}, s.flushing...)
	s.mu.RUnlock()
	for _, h := range heads {
		h.eachStream(mark)
	}
	if live.len() == s.streams.len() {
		return 0
	}
	n := s.streams.sweep(func(st *stream) bool {
		return live.find(ptrHash(st), func(x *stream) bool { return x == st }) != nil
	})
	s.m.streamsReleased.Add(float64(n))
	return n
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Stats describes the store's current state.
type Stats struct {
	Parts      int
	Rows       int64 // rows in parts
	DiskBytes  int64 // bytes of parts
	IndexBytes int64 // bytes of part indexes, blooms and trace directories
	HeadRows   int64
	HeadBytes  int64
	WALBytes   int64
	Partitions int
}

// Stats returns the current counts.
func (s *Store) Stats() Stats {
	var st Stats
	days := map[string]bool{}
	s.mu.RLock()
	for _, r := range s.parts {
		st.Parts++
		st.Rows += r.p.info.Rows
		st.DiskBytes += r.p.info.Bytes
		st.IndexBytes += r.p.info.IndexBytes
		days[r.p.info.Day] = true
	}
	for _, h := range append([]*head{s.head}, s.flushing...) {
		st.HeadRows += h.rows.Load()
		st.HeadBytes += h.bytes.Load()
	}
	s.mu.RUnlock()
	st.Partitions = len(days)
	if s.wal != nil {
		st.WALBytes = s.wal.Size()
	}
	return st
}

// Ready reports whether the store is open (the WAL has been replayed).
func (s *Store) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.closed
}

// Close stops background work, flushes the head into parts (so the next
// start replays little), and closes the WAL and parts.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	ferr := s.Flush()
	s.appendMu.Lock()
	s.mu.Lock()
	s.closed = true
	parts := s.parts
	s.parts = nil
	s.mu.Unlock()
	s.appendMu.Unlock()
	werr := s.wal.Close()
	for _, r := range parts {
		r.release()
	}
	return errors.Join(ferr, werr)
}

// QueryStats count the work a query did; planner tests assert on them.
type QueryStats struct {
	Partitions    int
	PartsSearched int
	BlocksTotal   int // blocks of matching streams in matching parts
	BlocksPruned  int // skipped by time range or column headers
	BlocksBloom   int // skipped by bloom filters
	BlocksRead    int // whose column data was read
	RowsScanned   int64
	RowsMatched   int64
	HeadRows      int64 // head rows examined
}

func (q *QueryStats) add(o QueryStats) {
	q.Partitions += o.Partitions
	q.PartsSearched += o.PartsSearched
	q.BlocksTotal += o.BlocksTotal
	q.BlocksPruned += o.BlocksPruned
	q.BlocksBloom += o.BlocksBloom
	q.BlocksRead += o.BlocksRead
	q.RowsScanned += o.RowsScanned
	q.RowsMatched += o.RowsMatched
	q.HeadRows += o.HeadRows
}
