// Package tail follows files matched by globs and emits their complete lines
// in order, with the byte offset just past each line, so a consumer can
// checkpoint exactly what it has handled.
//
// A Tailer polls (no inotify): each poll it expands the globs, stats every
// match and reads each open file to its end. It survives rotation by rename
// (the open descriptor is drained, then closed once the file has left the
// globs and stopped growing), rotation by copytruncate (a truncated file is
// read again from offset zero after the copy, a new file whose head matches
// the old head, which continues from the old offset), files that shrink, files that
// appear late and files deleted while open. Files are identified by device,
// inode and a fingerprint of their first bytes, so an inode reused by a new
// file is not taken for the old one. A partial last line is held until its
// newline arrives (or the file is closed).
//
// Sending on the output channel blocks, which is how back-pressure from the
// rest of the pipeline pauses reading. A Tailer is driven by one goroutine
// (Run); Lag, LagSeconds and Acknowledge are safe to call concurrently
// with it.
package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

// Options configures a Tailer.
type Options struct {
	// Include lists glob patterns (filepath.Match syntax) of files to tail.
	Include []string `yaml:"-"`
	// Exclude lists patterns removed from the matches; a pattern without
	// a '/' is matched against the base name, otherwise the full path.
	Exclude []string `yaml:"-"`
	// PollInterval is how often globs are expanded and files read.
	PollInterval time.Duration `yaml:"poll_interval"`
	// FingerprintSize is how many head bytes identify a file.
	FingerprintSize int `yaml:"fingerprint_size"`
	// ReadBufferSize is the size of each read.
	ReadBufferSize int `yaml:"read_buffer_size"`
	// MaxLineBytes splits longer lines (a line is never dropped).
	MaxLineBytes int `yaml:"max_line_bytes"`
	// CloseInactive closes a file that has left the globs (renamed away
	// or deleted) once it is drained and has not grown for this long.
	CloseInactive time.Duration `yaml:"close_inactive"`
	// RotatedMemory is how long the head of a truncated file is
	// remembered so that its copy (copytruncate) continues from the old
	// offset.
	RotatedMemory time.Duration `yaml:"rotated_memory"`
	// StartAtEnd makes files found in the first poll without a saved
	// position start at their end instead of their beginning.
	StartAtEnd bool `yaml:"start_at_end"`
	// ReportsAcks says the caller passes the positions of every batch the
	// server acknowledged to Tailer.Acknowledge; only then is the lag in
	// seconds per file measured and exported.
	ReportsAcks bool `yaml:"-"`
}

// DefaultOptions returns options with defaults filled in.
func DefaultOptions() Options {
	return Options{
		PollInterval:    250 * time.Millisecond,
		FingerprintSize: 1024,
		ReadBufferSize:  64 << 10,
		MaxLineBytes:    1 << 20,
		CloseInactive:   5 * time.Second,
		RotatedMemory:   30 * time.Second,
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	if len(o.Include) == 0 {
		return errors.New("validate tail options: no include pattern (set --path)")
	}
	for _, p := range append(append([]string{}, o.Include...), o.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("validate tail options: bad pattern %q: %w", p, err)
		}
	}
	switch {
	case o.PollInterval <= 0:
		return errors.New("validate tail options: poll interval must be positive")
	case o.FingerprintSize < 16:
		return errors.New("validate tail options: fingerprint size must be at least 16 bytes")
	case o.ReadBufferSize < 512:
		return errors.New("validate tail options: read buffer size must be at least 512 bytes")
	case o.MaxLineBytes < 16:
		return errors.New("validate tail options: max line bytes must be at least 16")
	case o.CloseInactive < 0 || o.RotatedMemory < 0:
		return errors.New("validate tail options: negative durations")
	}
	return nil
}

// Source is one reader incarnation of a file. It never changes after
// creation; a truncated file gets a new Source.
type Source struct {
	// ID is unique per Tailer.
	ID uint64
	// Path is the glob-matched path when the file was first seen (for a
	// copytruncate copy, the path of the original).
	Path     string
	Dev, Ino uint64
}

// Line is one complete line without its terminating newline (a trailing
// "\r" is removed too).
type Line struct {
	Text []byte
	// Offset is the file offset just past the line's newline.
	Offset int64
}

// Chunk is a run of consecutive lines from one Source. Text slices belong to
// the receiver.
type Chunk struct {
	Source *Source
	// FP is the file's fingerprint as of this chunk.
	FP    checkpoint.Fingerprint
	Lines []Line
	// Closed reports that Source is finished: no more chunks follow
	// for it. Lines may still be present (a final unterminated line).
	Closed bool
	// Start is the offset where the first line begins.
	Start int64
	// Offset is the offset just past the last line (or the offset at
	// close).
	Offset int64
}

// Tailer follows files. Create with New; call Run once.
type Tailer struct {
	opts   Options
	log    *slog.Logger
	m      *Metrics
	resume map[checkpoint.Key]checkpoint.Position

	// Owned by the Run goroutine.
	readers   map[checkpoint.Key]*reader
	rotated   []rotatedHead
	nextID    uint64
	firstPoll bool
	now       func() time.Time
	// afterGlob, when set (tests), runs between a poll's glob and its
	// truncation checks: where a copytruncate can land unseen.
	afterGlob func()

	mu  sync.Mutex // guards lag
	lag map[string]int64

	acks *ackLag // nil unless opts.ReportsAcks
}

type rotatedHead struct {
	fp      checkpoint.Fingerprint
	offset  int64
	path    string
	expires time.Time
}

type reader struct {
	src        *Source
	f          *os.File
	head       []byte                 // the file's first bytes (up to FingerprintSize) as read
	fp         checkpoint.Fingerprint // fingerprint(head)
	lineStart  int64                  // offset of pending's first byte
	pending    []byte                 // bytes read after the last newline
	size       int64                  // size at last stat
	inGlob     bool
	lastGrowth time.Time
	readAfter  time.Time // a reset reader is not read before this
	mtime      time.Time // modification time at the last stat
	missing    int       // consecutive polls the file was not matched
	resumed    bool      // opened at a checkpointed position
}

// New returns a Tailer that resumes files from the given positions.
func New(opts Options, resume []checkpoint.Position, log *slog.Logger, m *Metrics) (*Tailer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	t := &Tailer{
		opts:      opts,
		log:       log,
		m:         m,
		resume:    map[checkpoint.Key]checkpoint.Position{},
		readers:   map[checkpoint.Key]*reader{},
		firstPoll: true,
		now:       time.Now,
		lag:       map[string]int64{},
	}
	for _, p := range resume {
		t.resume[p.Key()] = p
	}
	if opts.ReportsAcks {
		t.acks = newAckLag()
		m.lagSeconds.attach(t.acks, func() time.Time { return t.now() })
	}
	return t, nil
}

// Run polls until ctx is done, sending chunks to out. It closes open files
// before returning ctx.Err().
func (t *Tailer) Run(ctx context.Context, out chan<- Chunk) error {
	defer func() {
		for k, r := range t.readers {
			r.f.Close()
			delete(t.readers, k)
		}
		t.m.FilesOpen.Set(0)
	}()
	tick := time.NewTicker(t.opts.PollInterval)
	defer tick.Stop()
	for {
		if err := t.Poll(ctx, out); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Lag returns, per open file path, the bytes not yet read.
func (t *Tailer) Lag() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.lag))
	for k, v := range t.lag {
		out[k] = v
	}
	return out
}

// Acknowledge tells the tailer which positions the server acknowledged
// (a delivered batch's positions, in delivery order), which moves the lag in
// seconds. It is safe to call concurrently with Run; without
// Options.ReportsAcks it does nothing.
func (t *Tailer) Acknowledge(ps []checkpoint.Position) { t.acks.ack(ps) }

// LagSeconds returns, per path, the age of the oldest data not yet
// acknowledged (see Acknowledge); nil without Options.ReportsAcks.
func (t *Tailer) LagSeconds() map[string]float64 {
	if t.acks == nil {
		return nil
	}
	return t.acks.lag(t.now())
}

// Poll runs one poll cycle: glob, stat, read every file to its end. It is
// exported for tests and --once mode; it must not run concurrently with Run.
func (t *Tailer) Poll(ctx context.Context, out chan<- Chunk) error {
	now := t.now()
	first := t.firstPoll
	t.firstPoll = false

	found, seen := t.discover()
	if t.afterGlob != nil {
		t.afterGlob()
	}

	// 1. Readers whose file left the globs: drain, close when idle.
	for _, r := range t.sortedReaders() {
		if seen[r.key()] {
			continue
		}
		r.inGlob = false
		r.missing++
		if err := t.drain(ctx, r, now, out); err != nil {
			return err
		}
		// Several polls in a row, so that a glob racing a rename does
		// not close a file that is still there.
		if r.missing >= 3 && now.Sub(r.lastGrowth) >= t.opts.CloseInactive {
			if err := t.close(ctx, r, out); err != nil {
				return err
			}
		}
	}
	// 2. Readers still in the globs: detect truncation, then read.
	anyTruncated := false
	for _, m := range found {
		r := t.readers[m.key]
		if r == nil {
			continue
		}
		r.inGlob, r.missing = true, 0
		t.acks.seen(m.key, m.size, now)
		if !r.readAfter.IsZero() || len(r.head) == 0 {
			continue // a reset reader, read in step 4
		}
		truncated, err := r.truncated()
		if err != nil {
			t.log.Warn("check file for truncation", "path", r.src.Path, "err", err)
			continue
		}
		if truncated {
			anyTruncated = true
			t.log.Info("file truncated; reading it again from the start", "path", r.src.Path, "offset", r.lineStart)
			t.rotated = append(t.rotated, rotatedHead{fp: r.fp, offset: r.lineStart, path: r.src.Path, expires: now.Add(t.opts.RotatedMemory)})
			f := r.f
			r.f = nil // the new reader takes over the descriptor
			if err := t.closeKeepFile(ctx, r, out); err != nil {
				f.Close()
				return err
			}
			nr := t.newReader(f, m.path, m.key, 0, nil)
			nr.readAfter = now // read in step 4, in modification-time order with new files
			continue
		}
		if err := t.drain(ctx, r, now, out); err != nil {
			return err
		}
	}
	// 3. New files. Copies of truncated files (copytruncate) are read
	// first: they hold the lines written before the truncation. A
	// truncation seen above may have happened after the glob, with its
	// copy missing or empty there; the copy was complete before the
	// truncation, so globbing again finds it before the truncated file's
	// new lines are read.
	if anyTruncated {
		found, _ = t.discover()
	}
	t.pruneRotated(now)
	var copies, fresh []*reader
	foundPaths := make(map[checkpoint.Key]string, len(found))
	for _, m := range found {
		foundPaths[m.key] = m.path
	}
	for _, m := range found {
		if t.readers[m.key] != nil || m.size == 0 {
			continue
		}
		r, isCopy, err := t.open(m.path, m.key, first, foundPaths)
		if err != nil {
			t.log.Warn("open file", "path", m.path, "err", err)
			continue
		}
		if r.lineStart > 0 {
			// Record where reading starts, so a checkpoint holds it
			// even if no line follows (a copy read to its end).
			select {
			case out <- Chunk{Source: r.src, FP: r.fp, Start: r.lineStart, Offset: r.lineStart}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if isCopy {
			copies = append(copies, r)
		} else {
			fresh = append(fresh, r)
		}
	}
	for _, r := range copies {
		if err := t.drain(ctx, r, now, out); err != nil {
			return err
		}
	}
	// 4. Truncated files from their new start, and new files, oldest
	// first. A new file may be an unrecognised copy of a truncated one
	// (it was truncated again before its new start was read, so no head
	// was known to match the copy) and holds older lines than the
	// truncated file; or the successor of a truncated file rotated by
	// rename since, which holds newer ones. Modification times order
	// them.
	var due []*reader
	for _, r := range t.sortedReaders() {
		// Reset readers whose delay passed, and those that have not read
		// a byte since (their head is unknown, so a second truncation
		// cannot have been noticed).
		switch {
		case !r.inGlob:
			continue
		case !r.readAfter.IsZero() && now.Before(r.readAfter):
			continue
		case r.readAfter.IsZero() && len(r.head) > 0:
			continue
		}
		r.readAfter = time.Time{}
		if fi, err := r.f.Stat(); err == nil {
			r.mtime = fi.ModTime()
		}
		due = append(due, r)
	}
	due = append(due, fresh...)
	sortOldestFirst(due)
	for _, r := range due {
		if err := t.drain(ctx, r, now, out); err != nil {
			return err
		}
	}
	t.m.FilesOpen.Set(float64(len(t.readers)))
	return nil
}

// globMatch is a regular file matched by the globs, with its size when
// stat'ed.
type globMatch struct {
	path string
	key  checkpoint.Key
	size int64
}

// discover globs and stats the matching regular files, each file once
// (by device and inode), and returns them and the set of their keys.
func (t *Tailer) discover() ([]globMatch, map[checkpoint.Key]bool) {
	var found []globMatch
	seen := map[checkpoint.Key]bool{}
	for _, path := range t.glob() {
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		key := fileKey(fi)
		if seen[key] {
			continue
		}
		seen[key] = true
		found = append(found, globMatch{path, key, fi.Size()})
	}
	return found, seen
}

func (t *Tailer) glob() []string {
	set := map[string]struct{}{}
	for _, pat := range t.opts.Include {
		ms, _ := filepath.Glob(pat) // patterns were validated
		for _, m := range ms {
			if !t.excluded(m) {
				set[m] = struct{}{}
			}
		}
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func (t *Tailer) excluded(path string) bool {
	for _, pat := range t.opts.Exclude {
		subject := path
		if !containsSlash(pat) {
			subject = filepath.Base(path)
		}
		if ok, _ := filepath.Match(pat, subject); ok {
			return true
		}
	}
	return false
}

func containsSlash(s string) bool { return strings.Contains(s, "/") }

func (t *Tailer) sortedReaders() []*reader {
	rs := make([]*reader, 0, len(t.readers))
	for _, r := range t.readers {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].src.ID < rs[j].src.ID })
	return rs
}

func (t *Tailer) pruneRotated(now time.Time) {
	kept := t.rotated[:0]
	for _, h := range t.rotated {
		if now.Before(h.expires) {
			kept = append(kept, h)
		}
	}
	t.rotated = kept
}

func fileKey(fi os.FileInfo) checkpoint.Key {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return checkpoint.Key{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // types differ per platform
	}
	return checkpoint.Key{}
}

// open opens a new file and decides where to start reading.
func (t *Tailer) open(path string, key checkpoint.Key, first bool, found map[checkpoint.Key]string) (r *reader, isCopy bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil || fileKey(fi) != key {
		f.Close()
		return nil, false, fmt.Errorf("open %s: file replaced while opening", path)
	}
	head, err := readHead(f, t.opts.FingerprintSize)
	if err != nil {
		f.Close()
		return nil, false, err
	}
	start, srcPath := int64(0), path
	how := "new file"
	if p, ok := t.resume[key]; ok && matches(p.FP, head) && p.Offset <= fi.Size() {
		start, how = p.Offset, "checkpoint"
		delete(t.resume, key)
	} else if p, ok := t.orphanResume(key, head, found); ok {
		// A copy made while the agent was down (copytruncate): it holds
		// what was checkpointed for the original.
		start, srcPath, how, isCopy = min(p.Offset, fi.Size()), p.Path, "checkpoint of the original", true
		delete(t.resume, p.Key())
	} else if i := t.matchRotated(head); i >= 0 {
		h := t.rotated[i]
		t.rotated = append(t.rotated[:i], t.rotated[i+1:]...)
		start, srcPath, how, isCopy = min(h.offset, fi.Size()), h.path, "copy of truncated file", true
	} else if r := t.copyOf(head, key); r != nil {
		// A copy of a file still open (copytruncate caught between the
		// copy and the truncate): it holds what was read already.
		start, srcPath, how, isCopy = min(r.lineStart, fi.Size()), r.src.Path, "copy of open file", true
	} else if first && t.opts.StartAtEnd {
		start, how = lastLineEnd(f, fi.Size()), "end"
	}
	t.log.Debug("tailing file", "path", path, "offset", start, "from", how)
	r = t.newReader(f, srcPath, key, start, head)
	r.mtime = fi.ModTime()
	r.resumed = how == "checkpoint"
	return r, isCopy, nil
}

// sortOldestFirst orders files found in one poll for reading: older
// modification time first. Timestamps are coarse (a kernel tick), so a file
// rotated by rename and the new file at its path often carry the same one;
// on a tie a file resumed from a checkpoint (it was being read before) goes
// first, then a rotated name — one extending another candidate's name, as
// app.log.1 extends app.log — then glob order.
func sortOldestFirst(rs []*reader) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if !a.mtime.Equal(b.mtime) {
			return a.mtime.Before(b.mtime)
		}
		if a.resumed != b.resumed {
			return a.resumed
		}
		an, bn := a.f.Name(), b.f.Name()
		return len(an) > len(bn) && strings.HasPrefix(an, bn)
	})
}

// orphanResume finds a saved position, for another inode, whose fingerprint
// matches head while its own inode no longer holds that content (deleted
// or truncated): the file at hand is a copy of it.
func (t *Tailer) orphanResume(key checkpoint.Key, head []byte, found map[checkpoint.Key]string) (checkpoint.Position, bool) {
	var keys []checkpoint.Key
	for k, p := range t.resume {
		if k != key && matches(p.FP, head) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Ino < keys[j].Ino })
	for _, k := range keys {
		p := t.resume[k]
		if path, ok := found[k]; ok && headMatches(path, p.FP) {
			continue // the original is still there
		}
		return p, true
	}
	return checkpoint.Position{}, false
}

func headMatches(path string, fp checkpoint.Fingerprint) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head, err := readHead(f, fp.Len)
	return err == nil && matches(fp, head)
}

// copyOf returns an open reader (another inode) whose full-size fingerprint
// matches head. Only full fingerprints count, so that small files that
// merely start alike are not confused.
func (t *Tailer) copyOf(head []byte, key checkpoint.Key) *reader {
	for _, r := range t.sortedReaders() {
		if r.key() != key && r.fp.Len == t.opts.FingerprintSize && matches(r.fp, head) {
			return r
		}
	}
	return nil
}

func (t *Tailer) matchRotated(head []byte) int {
	for i, h := range t.rotated {
		if matches(h.fp, head) {
			return i
		}
	}
	return -1
}

func (t *Tailer) newReader(f *os.File, path string, key checkpoint.Key, start int64, head []byte) *reader {
	t.nextID++
	r := &reader{
		src:        &Source{ID: t.nextID, Path: path, Dev: key.Dev, Ino: key.Ino},
		f:          f,
		head:       head,
		fp:         fingerprint(head),
		lineStart:  start,
		inGlob:     true,
		lastGrowth: t.now(),
	}
	t.readers[key] = r
	t.acks.open(key, path, start)
	return r
}

func (r *reader) key() checkpoint.Key { return checkpoint.Key{Dev: r.src.Dev, Ino: r.src.Ino} }

// truncated reports whether the file shrank below what was read or its head
// no longer matches the fingerprint.
func (r *reader) truncated() (bool, error) {
	// Stat the descriptor now: a stat from the start of the poll may be
	// stale after a long wait for the pipeline.
	fi, err := r.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", r.f.Name(), err)
	}
	readOff := r.lineStart + int64(len(r.pending))
	if fi.Size() < readOff {
		return true, nil
	}
	if len(r.head) == 0 || (fi.Size() == r.size && fi.ModTime().Equal(r.mtime)) {
		return false, nil
	}
	head, err := readHead(r.f, len(r.head))
	if err != nil {
		return false, err
	}
	return !bytes.Equal(head, r.head), nil
}

// checkHead compares data, read at offset off, with the part of the
// remembered head it overlaps, and extends a short head with new bytes.
// It reports false when they disagree.
func (r *reader) checkHead(data []byte, off int64, fpSize int) bool {
	hl := int64(len(r.head))
	if off < hl {
		end := min(hl, off+int64(len(data)))
		if !bytes.Equal(data[:end-off], r.head[off:end]) {
			return false
		}
	}
	if hl < int64(fpSize) {
		if off <= hl && off+int64(len(data)) > hl {
			r.head = append(r.head, data[hl-off:min(int64(len(data)), int64(fpSize)-off)]...)
			r.fp = fingerprint(r.head)
		} else if off > hl {
			// Resumed past a short head: read the head again, keeping
			// it only if it extends the one we had.
			if head, err := readHead(r.f, fpSize); err == nil && bytes.HasPrefix(head, r.head) {
				r.head = head
				r.fp = fingerprint(head)
			}
		}
	}
	return true
}

// drain reads r to its end and sends the complete lines.
func (t *Tailer) drain(ctx context.Context, r *reader, now time.Time, out chan<- Chunk) error {
	if r.f == nil {
		return nil
	}
	bufSize := t.opts.ReadBufferSize
	for {
		readOff := r.lineStart + int64(len(r.pending))
		buf := make([]byte, len(r.pending), len(r.pending)+bufSize)
		copy(buf, r.pending)
		n, err := r.f.ReadAt(buf[len(buf):cap(buf)], readOff)
		if n == 0 {
			if fi, serr := r.f.Stat(); serr == nil {
				r.size, r.mtime = fi.Size(), fi.ModTime()
				t.setLag(r, fi.Size()-readOff)
				t.acks.seen(r.key(), fi.Size(), now)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil // transient read error: try again next poll
			}
			return nil
		}
		r.lastGrowth = now
		t.m.BytesRead.Add(float64(n))
		t.acks.seen(r.key(), readOff+int64(n), now)
		data := buf[len(buf) : len(buf)+n]
		buf = buf[:len(buf)+n]
		if !r.checkHead(data, readOff, t.opts.FingerprintSize) {
			// The bytes just read disagree with the head read before:
			// the file was truncated and rewritten in between. Emit
			// nothing; the next poll sees the truncation.
			return nil
		}
		lines, rest := splitLines(buf, r.lineStart, t.opts.MaxLineBytes)
		start := r.lineStart
		r.lineStart += int64(len(buf) - len(rest))
		r.pending = append(r.pending[:0], rest...)
		if len(lines) > 0 {
			t.m.LinesRead.Add(float64(len(lines)))
			c := Chunk{Source: r.src, FP: r.fp, Lines: lines, Start: start, Offset: r.lineStart}
			select {
			case out <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			// The send may have waited long; if the file was truncated
			// meanwhile, stop and let the next poll handle it.
			if tr, err := r.truncated(); err != nil || tr {
				return nil
			}
		}
	}
}

// splitLines cuts buf (starting at file offset base) into lines; rest is the
// unterminated tail. Lines longer than max are cut at max bytes.
func splitLines(buf []byte, base int64, max int) (lines []Line, rest []byte) {
	off := 0
	for off < len(buf) {
		i := bytes.IndexByte(buf[off:], '\n')
		if i < 0 {
			if len(buf)-off >= max {
				lines = append(lines, Line{Text: buf[off : off+max : off+max], Offset: base + int64(off+max)})
				off += max
				continue
			}
			break
		}
		if i > max {
			lines = append(lines, Line{Text: buf[off : off+max : off+max], Offset: base + int64(off+max)})
			off += max
			continue
		}
		text := buf[off : off+i : off+i]
		if n := len(text); n > 0 && text[n-1] == '\r' {
			text = text[:n-1]
		}
		lines = append(lines, Line{Text: text, Offset: base + int64(off+i+1)})
		off += i + 1
	}
	return lines, buf[off:]
}

// close flushes r's partial line, sends the Closed chunk and closes the file.
func (t *Tailer) close(ctx context.Context, r *reader, out chan<- Chunk) error {
	f := r.f
	err := t.closeKeepFile(ctx, r, out)
	if f != nil {
		f.Close()
	}
	return err
}

func (t *Tailer) closeKeepFile(ctx context.Context, r *reader, out chan<- Chunk) error {
	delete(t.readers, r.key())
	t.acks.closed(r.key())
	t.mu.Lock()
	delete(t.lag, r.src.Path)
	t.mu.Unlock()
	t.m.LagBytes.DeleteLabelValues(r.src.Path)
	c := Chunk{Source: r.src, FP: r.fp, Closed: true, Start: r.lineStart, Offset: r.lineStart}
	if r.f != nil && len(r.pending) > 0 { // deleted/rotated away with no final newline
		end := r.lineStart + int64(len(r.pending))
		c.Lines = []Line{{Text: append([]byte(nil), r.pending...), Offset: end}}
		c.Offset = end
		t.m.LinesRead.Inc()
	}
	t.log.Debug("closing file", "path", r.src.Path, "offset", c.Offset)
	select {
	case out <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Tailer) setLag(r *reader, lag int64) {
	t.mu.Lock()
	t.lag[r.src.Path] = lag
	t.mu.Unlock()
	t.m.LagBytes.WithLabelValues(r.src.Path).Set(float64(lag))
}

// readHead reads up to n bytes from the start of f.
func readHead(f *os.File, n int) ([]byte, error) {
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read head of %s: %w", f.Name(), err)
	}
	return buf[:m], nil
}

func fingerprint(head []byte) checkpoint.Fingerprint {
	return checkpoint.Fingerprint{Len: len(head), Hash: xxhash.Sum64(head)}
}

// matches reports whether head starts with the bytes fp was computed from.
func matches(fp checkpoint.Fingerprint, head []byte) bool {
	return fp.Len > 0 && len(head) >= fp.Len && xxhash.Sum64(head[:fp.Len]) == fp.Hash
}

// lastLineEnd returns the offset just past the last newline before size.
func lastLineEnd(f *os.File, size int64) int64 {
	const step = 4096
	buf := make([]byte, step)
	for end := size; end > 0; {
		start := max(end-step, 0)
		n, _ := f.ReadAt(buf[:end-start], start)
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1
		}
		end = start
	}
	return 0
}
