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
	// "at ", "Caused by:", "Suppressed:", "Wrapped by:" or "...". A
	// Java exception line ("pkg.Class: message" or "pkg.Class") or a
	// Python "Traceback" line also continues a record that is still a
	// log header (a timestamped or levelled line and its indented
	// lines), so a logged error stays with its stack trace; after other
	// text, or after a stack's frames, it starts a new record. The
	// java.util.logging two-line format ("Nov 24, 2026 7:01:02 PM
	// com.x.Y method" then "SEVERE: message") is one header. Python
	// tracebacks and Go panics get extra handling.
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
	stack  stackState
}

type traceMode uint8

const (
	modeNone traceMode = iota
	modePython
	modeGo
)

// stackState says, for the built-in rule, whether the pending record may
// take a Java exception line that does not look like a continuation.
type stackState uint8

const (
	// stackNone: plain text, or a finished traceback; an exception line
	// starts a new record (a bare printStackTrace).
	stackNone stackState = iota
	// stackJULHead: the first line of java.util.logging's two-line
	// format; the next (level) line belongs to it.
	stackJULHead
	// stackHeader: a log header, possibly with indented lines; an
	// exception line or a Python traceback joins it.
	stackHeader
	// stackFrames: an exception or its frames were seen; only
	// continuation lines join, a second exception starts a new record.
	stackFrames
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
	// The built-in rule looks for a leading timestamp once per line.
	stamped := j.start == nil && startsWithTimestamp(line)
	if j.lines > 0 && (j.startsRecord(line, stamped) || j.lines >= j.opts.MaxLines || len(j.buf)+1+len(line) > j.opts.MaxBytes) {
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
	if j.start == nil {
		j.observe(line, stamped, j.lines == 0)
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

// observe updates the built-in rule's stack state with line, which was
// just added to the pending record (as its first line when first);
// stamped says whether it starts with a timestamp.
func (j *Joiner) observe(line []byte, stamped, first bool) {
	if first {
		switch {
		case j.mode != modeNone:
			j.stack = stackNone
		case julHeader(line):
			j.stack = stackJULHead
		case stamped || startsWithLevel(line):
			j.stack = stackHeader
		case javaExceptionLine(line) || bytes.HasPrefix(line, []byte("Exception in thread ")):
			j.stack = stackFrames
		default:
			j.stack = stackNone
		}
		return
	}
	switch j.stack {
	case stackJULHead:
		j.stack = stackHeader // the "LEVEL: message" line
	case stackHeader:
		switch {
		case bytes.HasPrefix(line, []byte(pythonTraceback)):
			j.mode, j.stack = modePython, stackNone
		case javaExceptionLine(line) || isFrame(line):
			j.stack = stackFrames
		}
	}
}

const pythonTraceback = "Traceback (most recent call last):"

// startsRecord decides whether line begins a new record; stamped says
// whether it starts with a timestamp (only computed for the built-in rule).
func (j *Joiner) startsRecord(line []byte, stamped bool) bool {
	if j.start != nil {
		return j.start.Match(line)
	}
	if stamped || julHeader(line) {
		return true
	}
	switch j.mode {
	case modeGo:
		return false // until a timestamped line or the flush timeout
	case modePython:
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			// The exception line ends the traceback.
			j.mode, j.stack = modeNone, stackNone
			return bytes.HasPrefix(line, []byte("Traceback")) || !pythonExceptionLine(line)
		}
		return false
	}
	switch j.stack {
	case stackJULHead:
		return len(line) == 0
	case stackHeader:
		if javaExceptionLine(line) || bytes.HasPrefix(line, []byte(pythonTraceback)) {
			return false
		}
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
	for _, p := range continuationPrefixes {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// continuationPrefixes never begin a record: Java frames, elided frames
// and the cause chain (Logback prints "Wrapped by:" for root-cause-first
// stacks).
var continuationPrefixes = [][]byte{
	[]byte("at "), []byte("..."), []byte("Caused by:"), []byte("Suppressed:"), []byte("Wrapped by:"),
}

// isFrame reports whether line is a Java stack frame or elided-frames
// line, indented or not.
func isFrame(line []byte) bool {
	line = bytes.TrimLeft(line, " \t")
	return bytes.HasPrefix(line, []byte("at ")) || bytes.HasPrefix(line, []byte("... "))
}

// javaExceptionLine reports whether line is "pkg.Class: message" or a
// bare "pkg.Class": a qualified name of at least two Java identifiers
// whose last one starts with an upper-case letter, as Throwable.toString
// prints it.
func javaExceptionLine(line []byte) bool {
	name := line
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		if i+1 < len(line) && line[i+1] != ' ' {
			return false // "host:port", "a.B:c" are not exception lines
		}
		name = line[:i]
	}
	segments := 0
	for len(name) > 0 {
		seg := name
		if i := bytes.IndexByte(name, '.'); i >= 0 {
			seg, name = name[:i], name[i+1:]
			if len(name) == 0 {
				return false // trailing dot
			}
		} else {
			name = nil
		}
		if !javaIdentifier(seg) {
			return false
		}
		segments++
		if len(name) == 0 && !(seg[0] >= 'A' && seg[0] <= 'Z') {
			return false
		}
	}
	return segments >= 2
}

func javaIdentifier(s []byte) bool {
	if len(s) == 0 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// logLevels are the level words a header line may start with, bare or in
// brackets: "ERROR [main] c.e.App - msg", "[WARN] msg", "SEVERE: msg".
var logLevels = [][]byte{
	[]byte("TRACE"), []byte("DEBUG"), []byte("INFO"), []byte("NOTICE"), []byte("WARN"), []byte("WARNING"),
	[]byte("ERROR"), []byte("FATAL"), []byte("SEVERE"), []byte("CRITICAL"),
}

// startsWithLevel reports whether line starts with a level word followed
// by a space, ':', ']' or '|'.
func startsWithLevel(line []byte) bool {
	line = bytes.TrimPrefix(line, []byte("["))
	for _, l := range logLevels {
		if len(line) > len(l) && bytes.HasPrefix(line, l) {
			switch line[len(l)] {
			case ' ', ':', ']', '|':
				return true
			}
		}
	}
	return false
}

// julHeaderPattern matches the first line of java.util.logging's
// SimpleFormatter default: "Nov 24, 2026 7:01:02 PM com.x.Y method".
var julHeaderPattern = regexp.MustCompile(`^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M `)

func julHeader(line []byte) bool {
	// Cheap checks first, as this runs on every line: "Mon D," or "Mon DD,".
	if len(line) < 22 || line[3] != ' ' || line[5] != ',' && line[6] != ',' {
		return false
	}
	return julHeaderPattern.Match(line)
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
	j.buf, j.lines, j.mode, j.stack = j.buf[:0], 0, modeNone, stackNone
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
