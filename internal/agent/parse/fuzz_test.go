package parse

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func FuzzParseCRI(f *testing.F) {
	f.Add([]byte("2024-01-02T03:04:05.123Z stdout F hello"))
	f.Add([]byte("2024-01-02T03:04:05Z stderr P "))
	f.Fuzz(func(t *testing.T, b []byte) {
		cl, err := ParseCRI(b)
		if err != nil {
			return
		}
		if cl.Stream != "stdout" && cl.Stream != "stderr" {
			t.Fatalf("stream %q", cl.Stream)
		}
		if !bytes.HasSuffix(b, cl.Msg) {
			t.Fatal("message is not the line's tail")
		}
	})
}

func FuzzParseDocker(f *testing.F) {
	f.Add([]byte(`{"log":"x\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"log":"\u00e9"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cl, err := ParseDocker(b)
		if err != nil {
			return
		}
		// The message plus the newline a full line ends with is exactly
		// the "log" string.
		var d struct{ Log string }
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("accepted what encoding/json rejects: %v", err)
		}
		msg := string(cl.Msg)
		if !cl.Partial {
			msg += "\n"
		}
		if msg != d.Log {
			t.Fatalf("message %q, log %q", msg, d.Log)
		}
	})
}

func FuzzJoiner(f *testing.F) {
	f.Add([]byte("Traceback (most recent call last):\n  x\nE: y\nnext\n\tat z\n"), uint8(3))
	f.Add([]byte("panic: x\n\ngoroutine 1 [running]:\n2024-01-02T03:04:05Z a\n"), uint8(100))
	f.Add([]byte("Nov 24, 2026 7:01:02 PM a.B c\nSEVERE: m\na.B: x\n\tat a.B.c(B.java:1)\nCaused by: a.C\nx.Y: z\n"), uint8(40))
	f.Add([]byte("ERROR [main] a - m\nTraceback (most recent call last):\n  x\nE: y\na.B: c\n"), uint8(40))
	f.Fuzz(func(t *testing.T, in []byte, maxLines uint8) {
		o := DefaultMultilineOptions()
		o.MaxLines = int(maxLines%50) + 1
		o.MaxBytes = 64
		j, err := NewJoiner(o)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(in, []byte("\n"))
		var out []Joined
		for i, l := range lines {
			out = j.Add(out, l, int64(i+1), time.Unix(0, 0))
		}
		out = j.Flush(out)
		// Joining only inserts the newlines it removed: nothing lost,
		// nothing invented, offsets increase, bounds respected.
		var parts [][]byte
		var last int64
		total := 0
		for _, r := range out {
			if r.Offset <= last {
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			if r.Lines > o.MaxLines {
				t.Fatalf("%d lines > max %d", r.Lines, o.MaxLines)
			}
			total += r.Lines
			parts = append(parts, r.Text)
			// The built-in rule never lets a timestamped line continue
			// a record.
			for i, l := range bytes.Split(r.Text, []byte("\n")) {
				if i > 0 && (startsWithTimestamp(l) || julHeader(l)) {
					t.Fatalf("timestamped line %q inside record %q", l, r.Text)
				}
			}
		}
		if total != len(lines) || !bytes.Equal(bytes.Join(parts, []byte("\n")), bytes.Join(lines, []byte("\n"))) {
			t.Fatal("records do not reassemble the input")
		}
	})
}

func FuzzParseLogfmt(f *testing.F) {
	f.Add([]byte(`a=1 b="x y" c`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseLogfmt(b)
		if err != nil {
			return
		}
		for _, x := range fs {
			if x.Key == "" {
				t.Fatal("empty key")
			}
		}
	})
}
