package tail

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

// TestModelRotationsAndCrashes is a randomized, deterministic model of the
// agent around a Tailer: writers append numbered lines (some in two parts)
// to several files and rotate them by rename and by copytruncate; the
// consumer acknowledges chunks in order and keeps a checkpoint.State as the
// agent does; now and then the "agent" crashes, losing everything not
// acknowledged, stays down for a while, and a new Tailer resumes from the
// checkpoint. At the end every line must have been acknowledged exactly
// once, in order per file.
func TestModelRotationsAndCrashes(t *testing.T) {
	seeds, steps := uint64(5), 600
	switch {
	case testing.Short():
		seeds = 3
	case os.Getenv("SIGHTLINE_LONG") != "":
		seeds, steps = 60, 2000
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runModel(t, seed, steps)
		})
	}
}

type modelWriter struct {
	name, path string
	f          *os.File
	seq        int
	gen        int
	rest       string // unwritten end of a line written in two parts
}

func (w *modelWriter) write(t *testing.T, rng *rand.Rand) {
	if w.rest != "" {
		if _, err := w.f.WriteString(w.rest); err != nil {
			t.Fatal(err)
		}
		w.rest = ""
		w.seq++
		return
	}
	line := fmt.Sprintf("%s %06d %s\n", w.name, w.seq, strings.Repeat("x", rng.IntN(40)))
	if rng.IntN(6) == 0 {
		half := 1 + rng.IntN(len(line)-1)
		w.rest = line[half:]
		line = line[:half]
	} else {
		w.seq++
	}
	if _, err := w.f.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

func (w *modelWriter) rotate(t *testing.T, rename bool) {
	w.gen++
	rotated := fmt.Sprintf("%s.%d", w.path, w.gen)
	if rename {
		if err := w.f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(w.path, rotated); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.f = f
		return
	}
	src, err := os.Open(w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(rotated)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.f.Truncate(0); err != nil {
		t.Fatal(err)
	}
}

var modelLineRE = regexp.MustCompile(`^(f\d) (\d{6}) x*$`)

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	dir := t.TempDir()
	o := DefaultOptions()
	o.Include = []string{filepath.Join(dir, "*.log*")}
	o.FingerprintSize = 64 // small: files shorter than it are common
	o.CloseInactive = 2 * time.Second

	var writers []*modelWriter
	for i := range 3 {
		w := &modelWriter{name: fmt.Sprintf("f%d", i)}
		w.path = filepath.Join(dir, w.name+".log")
		f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.f = f
		writers = append(writers, w)
	}
	defer func() {
		for _, w := range writers {
			w.f.Close()
		}
	}()

	now := time.Unix(1_000_000, 0)
	state := checkpoint.NewState()
	var pending []Chunk
	var tl *Tailer
	var events []string
	closeFiles := func() {
		if tl == nil {
			return
		}
		for _, r := range tl.readers {
			if r.f != nil {
				r.f.Close()
			}
		}
	}
	defer func() { closeFiles() }()
	start := func() {
		closeFiles()
		var err error
		tl, err = New(o, state.List(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		tl.now = func() time.Time { return now }
	}
	start()
	down := 0 // polls left while the agent is down

	got := map[string][]int{}
	ack := func(n int) {
		for _, c := range pending[:n] {
			for _, l := range c.Lines {
				m := modelLineRE.FindStringSubmatch(string(l.Text))
				if m == nil {
					t.Fatalf("seed %d: unexpected line %q from %s\n%s", seed, l.Text, c.Source.Path, strings.Join(events, "\n"))
				}
				n, _ := strconv.Atoi(m[2])
				got[m[1]] = append(got[m[1]], n)
			}
			state.Apply(1, []checkpoint.Position{{Path: c.Source.Path, Dev: c.Source.Dev, Ino: c.Source.Ino, FP: c.FP, Offset: c.Offset, Closed: c.Closed, Updated: now}})
		}
		pending = pending[n:]
		events = append(events, fmt.Sprintf("  acked %d chunks, %d pending", n, len(pending)))
	}
	poll := func() {
		now = now.Add(o.PollInterval)
		if down > 0 {
			down--
			if down == 0 {
				start()
				events = append(events, "restart")
			}
			return
		}
		out := make(chan Chunk, 1<<16)
		if err := tl.Poll(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		close(out)
		for c := range out {
			pending = append(pending, c)
			desc := ""
			if len(c.Lines) > 0 {
				desc = fmt.Sprintf("%.9s..%.9s", c.Lines[0].Text, c.Lines[len(c.Lines)-1].Text)
			}
			events = append(events, fmt.Sprintf("  chunk %s ino %d [%d,%d) closed=%v fp=%d/%x %s", filepath.Base(c.Source.Path), c.Source.Ino, c.Start, c.Offset, c.Closed, c.FP.Len, c.FP.Hash&0xffff, desc))
		}
	}

	for range steps {
		w := writers[rng.IntN(len(writers))]
		switch r := rng.IntN(100); {
		case r < 55:
			for range 1 + rng.IntN(5) {
				w.write(t, rng)
			}
		case r < 60 && w.rest == "":
			events = append(events, fmt.Sprintf("rename %s at %d to .%d", w.name, w.seq, w.gen+1))
			w.rotate(t, true)
			time.Sleep(10 * time.Millisecond) // see below
		case r < 65 && w.rest == "":
			events = append(events, fmt.Sprintf("copytruncate %s at %d to .%d", w.name, w.seq, w.gen+1))
			w.rotate(t, false)
			// Modification times are coarse (a kernel tick): files
			// rotated within one tick can only be ordered by guesswork
			// (sortOldestFirst), which real rotation intervals do not
			// need. Leave a tick between a rotation and the next write.
			time.Sleep(10 * time.Millisecond)
		case r < 90:
			poll()
		case r < 97:
			ack(rng.IntN(len(pending) + 1))
		default:
			if down == 0 {
				ack(rng.IntN(len(pending) + 1))
				pending = nil // lost with the process
				down = rng.IntN(12)
				var ps []string
				for _, p := range state.List() {
					ps = append(ps, fmt.Sprintf("%s ino %d @%d fp=%d/%x", filepath.Base(p.Path), p.Ino, p.Offset, p.FP.Len, p.FP.Hash&0xffff))
				}
				events = append(events, fmt.Sprintf("crash, down %d polls; checkpoint %v", down, ps))
				if down == 0 {
					start()
				}
			}
		}
	}
	// Finish: complete partial lines, let everything be read and closed,
	// acknowledge it all.
	for _, w := range writers {
		if w.rest != "" {
			w.write(t, rng)
		}
	}
	for range 40 + 12 {
		poll()
		ack(len(pending))
	}
	for _, w := range writers {
		seqs := got[w.name]
		count := map[int]int{}
		var problems []string
		for i, n := range seqs {
			count[n]++
			if count[n] == 2 {
				problems = append(problems, fmt.Sprintf("line %d twice (again at position %d)", n, i))
			}
		}
		for n := range w.seq {
			if count[n] == 0 {
				problems = append(problems, fmt.Sprintf("line %d missing", n))
			}
		}
		if len(problems) == 0 {
			for i, n := range seqs {
				if n != i {
					problems = append(problems, fmt.Sprintf("out of order: position %d holds line %d", i, n))
					break
				}
			}
		}
		if len(problems) > 0 {
			if len(problems) > 8 {
				problems = problems[:8]
			}
			t.Fatalf("seed %d: %s: %d lines acknowledged, %d written; %v\nevents:\n%s",
				seed, w.name, len(seqs), w.seq, problems, strings.Join(events, "\n"))
		}
	}
}
