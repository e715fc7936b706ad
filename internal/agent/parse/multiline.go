package parse

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/regexp"
)

// MultilineOptions configures joining of continuation lines (stack traces)
// into one record.
type MultilineOptions struct {
	// Disabled makes every line its own record.
	Disabled bool `yaml:"disabled"`
	// StartPattern is a regular expression matching the first line of a
	// record; lines not matching continue the previous record. Empty
	// selects the built-in rule: a line starts a record when it starts
	// with a timestamp, or when it does not start with whitespace,
	// "at ", "Caused by:" or "..." (with extra handling for Python
	// tracebacks and Go panics).
	StartPattern string `yaml:"start_pattern"`
	// MaxLines and MaxBytes bound one record; a full record is emitted and
	// the next line starts a new one.
	MaxLines int `yaml:"max_lines"`
	MaxBytes int `yaml:"max_bytes"`
	// FlushTimeout emits a pending record when no line arrived for it.
	FlushTimeout time.Duration `yaml:"flush_timeout"`
}

// DefaultMultilineOptions returns the defaults.
func DefaultMultilineOptions() MultilineOptions {
	return MultilineOptions{MaxLines: 500, MaxBytes: 256 << 10, FlushTimeout: time.Second}
}

// Validate checks the options.
func (o *MultilineOptions) Validate() error {
	if o.StartPattern != "" {
		if _, err := regexp.Compile(o.StartPattern); err != nil {
			return fmt.Errorf("validate multiline start_pattern: %w", err)
		}
	}
	if o.MaxLines < 1 || o.MaxBytes < 1 || o.FlushTimeout <= 0 {
		return errors.New("validate multiline options: max_lines, max_bytes and flush_timeout must be positive")
	}
	return nil
}

// Joiner joins continuation lines into records. It is not safe for
// concurrent use; use one per source.
type Joiner struct {
	opts  MultilineOptions
	start *regexp.Regexp

	buf    []byte
	lines  int
	offset int64
	last   time.Time
	mode   traceMode
}

type traceMode uint8

const (
	modeNone traceMode = iota
	modePython
	modeGo
)

// Joined is one record assembled by a Joiner.
type Joined struct {
	Text   []byte
	Lines  int
	Offset int64 // offset after the record's last line
}

// NewJoiner returns a joiner; opts must be valid.
func NewJoiner(opts MultilineOptions) (*Joiner, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	j := &Joiner{opts: opts}
	if opts.StartPattern != "" {
		j.start = regexp.MustCompile(opts.StartPattern)
	}
	return j, nil
}

// Add feeds one line read at now; completed records are appended to out.
func (j *Joiner) Add(out []Joined, line []byte, offset int64, now time.Time) []Joined {
	if j.opts.Disabled {
		return append(out, Joined{Text: line, Lines: 1, Offset: offset})
	}
	if j.lines > 0 && (j.startsRecord(line) || j.lines >= j.opts.MaxLines || len(j.buf)+1+len(line) > j.opts.MaxBytes) {
		out = j.flush(out)
	}
	if j.lines == 0 {
		j.buf = append(j.buf[:0], line...)
		j.mode = modeNone
		if j.start == nil {
			switch {
			case bytes.HasPrefix(line, []byte("Traceback (most recent call last):")):
				j.mode = modePython
			case bytes.HasPrefix(line, []byte("panic: ")), bytes.HasPrefix(line, []byte("fatal error: ")), goroutineHeader(line):
				j.mode = modeGo
			}
		}
	} else {
		j.buf = append(append(j.buf, '\n'), line...)
	}
	j.lines++
	j.offset = offset
	j.last = now
	if len(j.buf) >= j.opts.MaxBytes {
		out = j.flush(out)
	}
	return out
}

func goroutineHeader(line []byte) bool {
	return bytes.HasPrefix(line, []byte("goroutine ")) && bytes.HasSuffix(line, []byte("]:"))
}

// startsRecord decides whether line begins a new record.
func (j *Joiner) startsRecord(line []byte) bool {
	if j.start != nil {
		return j.start.Match(line)
	}
	if startsWithTimestamp(line) {
		return true
	}
	switch j.mode {
	case modeGo:
		return false // until a timestamped line or the flush timeout
	case modePython:
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			// The exception line ends the traceback.
			j.mode = modeNone
			return bytes.HasPrefix(line, []byte("Traceback")) || !pythonExceptionLine(line)
		}
		return false
	}
	return !isContinuation(line)
}

func isContinuation(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	return bytes.HasPrefix(line, []byte("at ")) || bytes.HasPrefix(line, []byte("Caused by:")) || bytes.HasPrefix(line, []byte("..."))
}

// pythonExceptionLine matches "Name: message" or "pkg.Name" closing a
// Python traceback.
func pythonExceptionLine(line []byte) bool {
	name, _, _ := bytes.Cut(line, []byte(":"))
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// FlushExpired emits the pending record if it waited longer than the flush
// timeout at now.
func (j *Joiner) FlushExpired(out []Joined, now time.Time) []Joined {
	if j.lines > 0 && now.Sub(j.last) >= j.opts.FlushTimeout {
		return j.flush(out)
	}
	return out
}

// Flush emits the pending record, if any.
func (j *Joiner) Flush(out []Joined) []Joined {
	if j.lines > 0 {
		return j.flush(out)
	}
	return out
}

// Pending reports whether lines are held.
func (j *Joiner) Pending() bool { return j.lines > 0 }

func (j *Joiner) flush(out []Joined) []Joined {
	out = append(out, Joined{Text: bytes.Clone(j.buf), Lines: j.lines, Offset: j.offset})
	j.buf, j.lines, j.mode = j.buf[:0], 0, modeNone
	return out
}

var timestampPrefixes = []*regexp.Regexp{
	regexp.MustCompile(`^\[?\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}`),
	regexp.MustCompile(`^\[?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2}`),
	regexp.MustCompile(`^\[?\d{2}:\d{2}:\d{2}`),
	regexp.MustCompile(`^[IWEF]\d{4} \d{2}:\d{2}:\d{2}`), // klog
	regexp.MustCompile(`^\[?\d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}`),
}

// startsWithTimestamp reports whether line begins with a common timestamp.
func startsWithTimestamp(line []byte) bool {
	if len(line) < 8 {
		return false
	}
	c := line[0]
	if !(c >= '0' && c <= '9' || c == '[' || c >= 'A' && c <= 'Z') {
		return false
	}
	for _, re := range timestampPrefixes {
		if re.Match(line) {
			return true
		}
	}
	return false
}
