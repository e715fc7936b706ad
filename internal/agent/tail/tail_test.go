package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

// harness drives a Tailer poll by poll with a fake clock.
type harness struct {
	t   *testing.T
	tl  *Tailer
	out chan Chunk
	now time.Time
	// collected lines per source path, and the last chunk per source
	lines  []string
	closed []string
	last   map[uint64]Chunk
}

func newHarness(t *testing.T, opts Options, resume []checkpoint.Position) *harness {
	t.Helper()
	tl, err := New(opts, resume, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, tl: tl, out: make(chan Chunk, 10000), now: time.Unix(1000, 0), last: map[uint64]Chunk{}}
	tl.now = func() time.Time { return h.now }
	return h
}

func (h *harness) poll() {
	h.t.Helper()
	h.now = h.now.Add(h.tl.opts.PollInterval)
	if err := h.tl.Poll(context.Background(), h.out); err != nil {
		h.t.Fatal(err)
	}
	for {
		select {
		case c := <-h.out:
			for _, l := range c.Lines {
				h.lines = append(h.lines, filepath.Base(c.Source.Path)+":"+string(l.Text))
			}
			if c.Closed {
				h.closed = append(h.closed, filepath.Base(c.Source.Path))
			}
			h.last[c.Source.ID] = c
		default:
			return
		}
	}
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	if strings.Join(h.lines, "|") != strings.Join(want, "|") {
		h.t.Fatalf("lines:\n got %q\nwant %q", h.lines, want)
	}
	h.lines = nil
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func opts(dir string) Options {
	o := DefaultOptions()
	o.Include = []string{filepath.Join(dir, "*.log*")}
	o.FingerprintSize = 16
	return o
}

func TestPartialLinesAndOffsets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "one\r\ntwo\nthr")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log:one", "a.log:two")
	appendFile(t, p, "ee\n")
	h.poll()
	h.expect("a.log:three")
	for _, c := range h.last {
		if c.Offset != int64(len("one\r\ntwo\nthree\n")) {
			t.Fatalf("offset %d", c.Offset)
		}
	}
}

func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	o := opts(dir)
	o.Include = []string{filepath.Join(dir, "*.log")} // the rotated name leaves the glob
	o.CloseInactive = time.Second
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "1\n")
	h := newHarness(t, o, nil)
	h.poll()
	h.expect("a.log:1")
	appendFile(t, p, "2\n")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p+".1", "3\n") // writer has not reopened yet
	appendFile(t, p, "4\n")
	h.poll()
	h.expect("a.log:2", "a.log:3", "a.log:4")
	for range 5 {
		h.poll()
	}
	if len(h.closed) != 1 {
		t.Fatalf("closed = %v, want the rotated file closed once", h.closed)
	}
}

func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "first line of the file\nsecond\n")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log:first line of the file", "a.log:second")
	appendFile(t, p, "third\n")
	// copytruncate: copy, then truncate, then the writer continues.
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p+".1", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "fourth after truncation\n")
	h.poll()
	h.poll()
	// The copy continues under the original's path; nothing lost or repeated.
	h.expect("a.log:third", "a.log:fourth after truncation")
}

func TestTruncateRegrowPastOffsetDetectedByFingerprint(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "aaaaaaaaaaaaaaaaaaaa\n")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log:aaaaaaaaaaaaaaaaaaaa")
	os.Truncate(p, 0)
	appendFile(t, p, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n")
	h.poll()
	h.poll()
	h.expect("a.log:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
}

func TestDeletedWhileOpenDrainsAndFlushesPartial(t *testing.T) {
	dir := t.TempDir()
	o := opts(dir)
	o.CloseInactive = 0
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "x\n")
	h := newHarness(t, o, nil)
	h.poll()
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("y\nunterminated")
	os.Remove(p)
	f.Close()
	h.poll()
	h.expect("a.log:x", "a.log:y")
	if len(h.closed) != 0 {
		t.Fatal("closed after one poll; a glob racing a rename must not close a file")
	}
	h.poll()
	h.poll()
	h.expect("a.log:unterminated")
	if len(h.closed) != 1 || len(h.tl.readers) != 0 {
		t.Fatalf("closed=%v readers=%d", h.closed, len(h.tl.readers))
	}
}

func TestLateFileExcludesAndLongLines(t *testing.T) {
	dir := t.TempDir()
	o := opts(dir)
	o.Exclude = []string{"*.gz"}
	o.MaxLineBytes = 16
	h := newHarness(t, o, nil)
	h.poll()
	h.expect()
	appendFile(t, filepath.Join(dir, "b.log"), strings.Repeat("z", 20)+"\n")
	appendFile(t, filepath.Join(dir, "b.log.gz"), "binary\n")
	h.poll()
	h.expect("b.log:"+strings.Repeat("z", 16), "b.log:zzzz")
}

func TestResumeAndInodeReuse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "0123456789abcdefXYZ\nnext\nlast\n")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	var c Chunk
	for _, v := range h.last {
		c = v
	}
	// Pretend only the first line was acknowledged.
	pos := checkpoint.Position{Path: p, Dev: c.Source.Dev, Ino: c.Source.Ino, FP: c.FP, Offset: 20}

	h2 := newHarness(t, opts(dir), []checkpoint.Position{pos})
	h2.poll()
	h2.expect("a.log:next", "a.log:last")

	// Same inode, different head: a different file, read from the start.
	bad := pos
	bad.FP.Hash++
	h3 := newHarness(t, opts(dir), []checkpoint.Position{bad})
	h3.poll()
	if len(h3.lines) != 3 {
		t.Fatalf("inode reuse: got %q", h3.lines)
	}
}

func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "old\nold2\npart")
	o := opts(dir)
	o.StartAtEnd = true
	h := newHarness(t, o, nil)
	h.poll()
	appendFile(t, p, "ial\nnew\n")
	h.poll()
	h.expect("a.log:partial", "a.log:new")
}

func TestSplitLines(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
		rest string
	}{
		{"a\nb\n", 10, "a@2|b@4", ""},
		{"a\nbc", 10, "a@2", "bc"},
		{"abcdef\n", 3, "abc@3|def@7", ""},
		{"abcdefgh", 3, "abc@3|def@6", "gh"},
		{"\n\r\n", 3, "@1|@3", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			lines, rest := splitLines([]byte(tc.in), 0, tc.max)
			var got []string
			for _, l := range lines {
				got = append(got, fmt.Sprintf("%s@%d", l.Text, l.Offset))
			}
			if strings.Join(got, "|") != tc.want || string(rest) != tc.rest {
				t.Fatalf("got %q rest %q", got, rest)
			}
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a.log"), "x\n")
	tl, err := New(opts(dir), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Chunk) // never read: Run blocks on back-pressure
	done := make(chan error)
	go func() { done <- tl.Run(ctx, out) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v", err)
	}
}

// TestRewrittenBetweenOpenAndRead covers a file truncated and rewritten
// (copytruncate) after the tailer read its head but before it read its
// lines, because the pipeline held the tailer up: the new content must not
// be taken for the old, and the copy must be read from the start.
func TestRewrittenBetweenOpenAndRead(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "a first\n")
	time.Sleep(20 * time.Millisecond) // a is older: read first
	appendFile(t, b, "b old one\nb old two\n")
	h := newHarness(t, opts(dir), nil)
	h.out = make(chan Chunk) // unbuffered: the test decides when the tailer proceeds
	polled := make(chan error, 1)
	go func() { polled <- h.tl.Poll(context.Background(), h.out) }()
	// The tailer opens both files (reading their heads), then blocks
	// sending a's chunk. copytruncate b meanwhile.
	time.Sleep(100 * time.Millisecond)
	old, _ := os.ReadFile(b)
	os.WriteFile(b+".1", old, 0o644)
	os.WriteFile(b, []byte("b NEW content, longer than before\n"), 0o644)
	if first := <-h.out; string(first.Lines[0].Text) != "a first" {
		t.Fatalf("first chunk %q", first.Lines[0].Text)
	}
	var got []string
	collect := func() {
		for {
			select {
			case c := <-h.out:
				for _, l := range c.Lines {
					got = append(got, filepath.Base(c.Source.Path)+":"+string(l.Text))
				}
			case err := <-polled:
				if err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	collect()
	for range 3 {
		h.now = h.now.Add(h.tl.opts.PollInterval)
		go func() { polled <- h.tl.Poll(context.Background(), h.out) }()
		collect()
	}
	want := "b.log:b old one|b.log:b old two|b.log:b NEW content, longer than before"
	if strings.Join(got, "|") != want {
		t.Fatalf("got  %q\nwant %q", strings.Join(got, "|"), want)
	}
}
