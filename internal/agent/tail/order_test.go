package tail

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

// copyTruncate copies path to dst and truncates path, as logrotate's
// copytruncate does.
func copyTruncate(t *testing.T, path, dst string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// positionOf is the checkpoint entry the agent derives from a chunk.
func positionOf(c Chunk) checkpoint.Position {
	return checkpoint.Position{Path: c.Source.Path, Dev: c.Source.Dev, Ino: c.Source.Ino, FP: c.FP, Offset: c.Offset, Closed: c.Closed, Updated: time.Now()}
}

// Regression: after copytruncate the truncated file's reader closes and the
// copy's starting position follows in a later chunk. An agent whose batch
// boundary fell between the two (the close acknowledged, the copy's
// position not) and that crashed then read the whole copy again on restart,
// because the close deleted the file's checkpoint entry.
func TestCopyTruncateCrashBetweenCloseAndCopyPosition(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "line one of the original file\nline two of the original file\n")
	st := checkpoint.NewState()
	tl, err := New(opts(dir), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan Chunk, 100)
	poll := func(tl *Tailer) []Chunk {
		t.Helper()
		if err := tl.Poll(t.Context(), out); err != nil {
			t.Fatal(err)
		}
		var cs []Chunk
		for len(out) > 0 {
			cs = append(cs, <-out)
		}
		return cs
	}
	for _, c := range poll(tl) {
		st.Apply(1, []checkpoint.Position{positionOf(c)})
	}
	copyTruncate(t, p, p+".1")
	appendFile(t, p, "after truncation\n")
	cs := poll(tl)
	closedAt := -1
	for i, c := range cs {
		if c.Closed {
			closedAt = i
			break
		}
	}
	if closedAt < 0 || closedAt == len(cs)-1 {
		t.Fatalf("want the close followed by the copy's position, got %d chunks", len(cs))
	}
	for _, c := range cs[:closedAt+1] { // acknowledged up to the close only
		st.Apply(2, []checkpoint.Position{positionOf(c)})
	}
	for _, r := range tl.readers {
		r.f.Close()
	}

	restarted, err := New(opts(dir), st.List(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, r := range restarted.readers {
			r.f.Close()
		}
	}()
	var got []string
	for range 3 {
		for _, c := range poll(restarted) {
			for _, l := range c.Lines {
				got = append(got, string(l.Text))
			}
		}
	}
	if len(got) != 1 || got[0] != "after truncation" {
		t.Fatalf("after restart read %q, want only the line written after the truncation", got)
	}
}

// Regression: a file truncated twice before its new start was read (its
// head unknown, so the second truncation went unnoticed) was read before
// the second copy, which holds the older lines.
func TestTruncatedTwiceBeforeReadKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "first generation line\n")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log:first generation line")
	copyTruncate(t, p, p+".1")
	h.poll() // truncation noticed; the file is read again one poll later
	h.poll() // ... and is still empty
	h.expect()
	appendFile(t, p, "second generation line\n")
	time.Sleep(20 * time.Millisecond) // a later modification time (coarse clock)
	copyTruncate(t, p, p+".2")
	time.Sleep(20 * time.Millisecond)
	appendFile(t, p, "third generation line\n")
	h.poll()
	h.poll()
	h.expect("a.log.2:second generation line", "a.log:third generation line")
}

// Files found in one poll with the same (coarse) modification time: a
// rotated name goes before the name it extends, a file resumed from a
// checkpoint before a new one.
func TestSameModificationTimeOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p+".1", "rotated: older line\n")
	appendFile(t, p, "current: newer line\n")
	same := time.Now().Add(-time.Minute).Truncate(time.Second)
	for _, f := range []string{p, p + ".1"} {
		if err := os.Chtimes(f, same, same); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log.1:rotated: older line", "a.log:current: newer line")

	// b.log was being read (checkpoint); b.log.x is new and sorts first
	// by name but not by the tie-break.
	q := filepath.Join(dir, "b.log")
	appendFile(t, q, "resumed: old\nresumed: new\n")
	fi, err := os.Stat(q)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := os.ReadFile(q)
	pos := checkpoint.Position{Path: q, Dev: fileKey(fi).Dev, Ino: fileKey(fi).Ino, FP: fingerprint(head[:16]), Offset: int64(len("resumed: old\n"))}
	appendFile(t, filepath.Join(dir, "a.log.0"), "unrelated new file\n")
	for _, f := range []string{q, filepath.Join(dir, "a.log.0")} {
		if err := os.Chtimes(f, same, same); err != nil {
			t.Fatal(err)
		}
	}
	o := opts(dir)
	o.Include = []string{q, filepath.Join(dir, "a.log.0")}
	h2 := newHarness(t, o, []checkpoint.Position{pos})
	h2.poll()
	h2.expect("b.log:resumed: new", "a.log.0:unrelated new file")
}

// Regression: a file truncated (copytruncate) and then rotated by rename
// before the next poll was read again from its start one poll late, after
// the new file at its path, whose lines are newer.
func TestTruncatedThenRenamedKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "one: before the copy\n")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log:one: before the copy")
	copyTruncate(t, p, p+".1")
	time.Sleep(20 * time.Millisecond) // later modification times (coarse clock)
	appendFile(t, p, "two: after the truncation\n")
	if err := os.Rename(p, p+".2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	appendFile(t, p, "three: in the new file\n")
	h.poll()
	h.poll()
	h.expect("a.log.2:two: after the truncation", "a.log:three: in the new file")
}

// Regression: a copytruncate that lands between a poll's glob and its
// truncation check left the copy unseen in that poll, so the truncated
// file's new lines were read first and the copy's last lines a poll later
// (out of order; seen once in the agent's end-to-end rotation test).
func TestCopyTruncateBetweenGlobAndCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "one: read before the copy is made, padded past the fingerprint\n")
	h := newHarness(t, opts(dir), nil)
	h.poll()
	h.expect("a.log:one: read before the copy is made, padded past the fingerprint")
	appendFile(t, p, "two: written before the copy\n")
	h.tl.afterGlob = func() {
		h.tl.afterGlob = nil
		copyTruncate(t, p, p+".1")
		appendFile(t, p, "three: written after the truncation\n")
	}
	h.poll()
	h.poll()
	h.expect("a.log:two: written before the copy", "a.log:three: written after the truncation")
}
