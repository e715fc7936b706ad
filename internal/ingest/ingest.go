// Package ingest holds what every ingest edge shares: reading a request body
// with size limits and decompression, and the in-flight byte budget that
// turns overload into back-pressure (HTTP 429 / gRPC RESOURCE_EXHAUSTED)
// instead of unbounded memory. The protocol decoders live in subpackages
// (otlp, …); they declare the small sink interfaces they hand batches to and
// never import a store.
//
// A *Limiter is safe for concurrent use.
package ingest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/failure"
)

// Limiter bounds the bytes of requests being processed at once.
type Limiter struct {
	max int64

	mu    sync.Mutex
	inUse int64 // guarded by mu

	rejected prometheus.Counter
	inflight prometheus.GaugeFunc
}

// NewLimiter returns a limiter allowing max bytes in flight. Its metrics are
// registered with reg when reg is not nil.
func NewLimiter(max int64, reg prometheus.Registerer) *Limiter {
	l := &Limiter{max: max}
	l.rejected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sightline_ingest_rejected_overload_total",
		Help: "Ingest requests refused with 429/RESOURCE_EXHAUSTED because the in-flight byte budget was used up.",
	})
	l.inflight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sightline_ingest_inflight_bytes",
		Help: "Bytes of ingest requests being decoded and stored right now.",
	}, func() float64 { return float64(l.InUse()) })
	if reg != nil {
		reg.MustRegister(l.rejected, l.inflight)
	}
	return l
}

// Acquire reserves n bytes or fails with failure.ErrOverloaded. A request
// larger than the whole budget is admitted only when nothing else is in
// flight, so it cannot starve forever.
func (l *Limiter) Acquire(n int64) error { return l.acquire(n, 0) }

// acquire reserves n more bytes for a request that holds held already.
func (l *Limiter) acquire(n, held int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inUse-held > 0 && l.inUse+n > l.max {
		l.rejected.Inc()
		return fmt.Errorf("ingest budget of %d bytes in flight is used up (limits.max_inflight_bytes): %w", l.max, failure.ErrOverloaded)
	}
	l.inUse += n
	return nil
}

// Release returns n bytes acquired before.
func (l *Limiter) Release(n int64) {
	l.mu.Lock()
	l.inUse -= n
	l.mu.Unlock()
}

// InUse reports the bytes currently reserved.
func (l *Limiter) InUse() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse
}

// Full reports whether nothing more can be admitted right now.
func (l *Limiter) Full() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse >= l.max
}

// Reservation is the part of a Limiter's budget one request holds. The
// zero value (or one from a nil Limiter) holds nothing.
type Reservation struct {
	l *Limiter
	n int64
}

// Reserve returns an empty reservation in l (nil-safe), for an edge that
// grows it as it reads, such as a batch of syslog lines.
func (l *Limiter) Reserve() *Reservation { return &Reservation{l: l} }

// GrowTo makes the reservation at least total bytes, for a body that
// decodes to more than it arrived as; it fails with failure.ErrOverloaded
// like Acquire.
func (r *Reservation) GrowTo(total int64) error {
	if r.l == nil || total <= r.n {
		return nil
	}
	if err := r.l.acquire(total-r.n, r.n); err != nil {
		return err
	}
	r.n = total
	return nil
}

// Release gives the reservation back.
func (r *Reservation) Release() {
	if r.l != nil && r.n > 0 {
		r.l.Release(r.n)
	}
	r.n = 0
}

// ReadBody reads r's body, undoing its Content-Encoding (gzip, deflate,
// zstd, snappy — block or framed — or none), and fails with
// failure.ErrTooLarge when either the wire bytes or the decoded bytes exceed
// max. It reserves the wire size in lim (when lim is not nil) before reading
// and the decoded size once known, for as long as the returned release
// function has not been called: a small compressed body that decodes to
// many bytes is charged for what it decodes to.
func ReadBody(r *http.Request, max int64, lim *Limiter) (body []byte, release func(), err error) {
	body, res, err := ReadBodyReserved(r, max, lim)
	return body, res.Release, err
}

// ReadBodyReserved is ReadBody for a handler that decodes the body further
// itself: it returns the request's reservation, to grow to what the body
// decodes to.
func ReadBodyReserved(r *http.Request, max int64, lim *Limiter) (body []byte, res *Reservation, err error) {
	res = &Reservation{}
	if r.ContentLength > max {
		return nil, res, fmt.Errorf("body of %d bytes exceeds the %d-byte limit (limits.max_request_bytes): %w", r.ContentLength, max, failure.ErrTooLarge)
	}
	reserve := r.ContentLength
	if reserve < 0 {
		reserve = max // unknown length (chunked): assume the worst
	}
	if lim != nil {
		if err := lim.Acquire(reserve); err != nil {
			return nil, res, err
		}
		res = &Reservation{l: lim, n: reserve}
	}
	defer func() {
		if err != nil {
			res.Release()
		}
	}()
	raw, err := readLimited(r.Body, max)
	if err != nil {
		return nil, res, err
	}
	if body, err = Decode(raw, r.Header.Get("Content-Encoding"), max); err != nil {
		return nil, res, err
	}
	if err := res.GrowTo(int64(len(body))); err != nil {
		return nil, res, err
	}
	return body, res, nil
}

// Decode undoes a Content-Encoding with a bound on the decoded size.
func Decode(raw []byte, encoding string, max int64) ([]byte, error) {
	switch enc := strings.ToLower(strings.TrimSpace(encoding)); enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("decode gzip body: %v: %w", err, failure.ErrInvalid)
		}
		defer zr.Close()
		return readDecoded(zr, max, enc)
	case "deflate":
		zr := flate.NewReader(bytes.NewReader(raw))
		defer zr.Close()
		return readDecoded(zr, max, enc)
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(raw), zstd.WithDecoderMaxMemory(uint64(max)), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("decode zstd body: %v: %w", err, failure.ErrInvalid)
		}
		defer zr.Close()
		return readDecoded(zr, max, enc)
	case "snappy":
		return DecodeSnappy(raw, max)
	default:
		return nil, fmt.Errorf("content encoding %q is not supported (use gzip, zstd, snappy, deflate or none): %w", encoding, failure.ErrUnsupported)
	}
}

// DecodeSnappy decodes a snappy block (as remote_write and Loki push send)
// or, failing that, a snappy framed stream, refusing to allocate more than max.
func DecodeSnappy(raw []byte, max int64) ([]byte, error) {
	if n, err := snappy.DecodedLen(raw); err == nil {
		if int64(n) > max {
			return nil, fmt.Errorf("snappy body decodes to %d bytes, over the %d-byte limit (limits.max_request_bytes): %w", n, max, failure.ErrTooLarge)
		}
		if out, err := snappy.Decode(nil, raw); err == nil {
			return out, nil
		}
	}
	out, err := readDecoded(snappy.NewReader(bytes.NewReader(raw)), max, "snappy")
	if err != nil && !errors.Is(err, failure.ErrTooLarge) {
		return nil, fmt.Errorf("decode snappy body: not a valid snappy block or stream: %w", failure.ErrInvalid)
	}
	return out, err
}

func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("body exceeds the %d-byte limit: %w", mbe.Limit, failure.ErrTooLarge)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("read body: %w (limits.body_read_timeout): %w", err, failure.ErrSlowClient)
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("body exceeds the %d-byte limit (limits.max_request_bytes): %w", max, failure.ErrTooLarge)
	}
	return b, nil
}

func readDecoded(r io.Reader, max int64, enc string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, fmt.Errorf("%s body needs more than the %d-byte limit to decode (limits.max_request_bytes): %w", enc, max, failure.ErrTooLarge)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s body: %v: %w", enc, err, failure.ErrInvalid)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s body decodes to more than the %d-byte limit (limits.max_request_bytes): %w", enc, max, failure.ErrTooLarge)
	}
	return b, nil
}

// WriteError answers an HTTP request with err's status and a plain message.
func WriteError(w http.ResponseWriter, err error) {
	code := failure.HTTPStatus(err)
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, err.Error(), code)
}
