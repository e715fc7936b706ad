// Package promrw admits Prometheus remote_write requests (protocol 1.0 and
// 2.0, snappy-compressed protobuf) before Prometheus' own receiver decodes
// and stores them: it enforces the request size limit on the compressed
// and on the decoded bytes (a snappy header can claim gigabytes), reserves
// the request in the ingest budget (429 when it is used up, which senders
// retry), and rejects bodies that are not snappy at all with a 400 that
// says so. The receiver itself then answers exactly as Prometheus does:
// 204 on success, 400 for malformed or out-of-order data (not retried), 5xx
// only for failures a retry can fix.
//
// The handler is safe for concurrent use.
package promrw

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
)

// Guard wraps the remote write receiver next.
func Guard(next http.Handler, maxBytes int64, lim *ingest.Limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := r.Header.Get("Content-Encoding")
		if enc != "" && enc != "snappy" {
			ingest.WriteError(w, fmt.Errorf("remote write bodies must be snappy-compressed, got Content-Encoding %q: %w", enc, failure.ErrUnsupported))
			return
		}
		// Read the compressed body as is (no Content-Encoding undoing):
		// the receiver decompresses it itself.
		r.Header.Del("Content-Encoding")
		body, res, err := ingest.ReadBodyReserved(r, maxBytes, lim)
		if err != nil {
			ingest.WriteError(w, err)
			return
		}
		defer res.Release()
		n, err := snappy.DecodedLen(body)
		if err != nil {
			ingest.WriteError(w, fmt.Errorf("remote write body is not snappy block-compressed: %v: %w", err, failure.ErrInvalid))
			return
		}
		if int64(n) > maxBytes {
			ingest.WriteError(w, fmt.Errorf("remote write body decodes to %d bytes, over the %d-byte limit (limits.max_request_bytes): %w", n, maxBytes, failure.ErrTooLarge))
			return
		}
		// The receiver decompresses and decodes the body itself: charge
		// what it will hold, counted on a decompressed copy first.
		if err := chargeSeries(res, body, n, r.Header.Get("Content-Type")); err != nil {
			ingest.WriteError(w, err)
			return
		}
		if enc != "" {
			r.Header.Set("Content-Encoding", enc)
		}
		r.Body = readCloser{bytes.NewReader(body)}
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// Where a write request's series and samples sit: protocol 1.0
// (prometheus.WriteRequest: timeseries 1 {samples 2, histograms 4}) and
// 2.0 (io.prometheus.write.v2.Request: timeseries 5 {samples 2,
// histograms 3}).
var (
	v1Series  = [][]protowire.Number{{1}}
	v1Samples = [][]protowire.Number{{1, 2}, {1, 4}}
	v2Series  = [][]protowire.Number{{5}}
	v2Samples = [][]protowire.Number{{5, 2}, {5, 3}}
)

var decodePool = sync.Pool{New: func() any { return new([]byte) }}

// chargeSeries grows res to the memory the decoded request will take: its
// bytes plus a cost per series and per sample (an empty series is two bytes
// on the wire and half a kilobyte decoded).
func chargeSeries(res *ingest.Reservation, body []byte, n int, contentType string) error {
	bp := decodePool.Get().(*[]byte)
	defer decodePool.Put(bp)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	dec, err := snappy.Decode((*bp)[:cap(*bp)], body)
	if err != nil {
		return fmt.Errorf("remote write body is not valid snappy: %v: %w", err, failure.ErrInvalid)
	}
	series, samples := v1Series, v1Samples
	if strings.Contains(contentType, "io.prometheus.write.v2.Request") {
		series, samples = v2Series, v2Samples
	}
	ns, err := ingest.CountProto(dec, series...)
	if err != nil {
		return fmt.Errorf("decode remote write request: %v: %w", err, failure.ErrInvalid)
	}
	// The body decoded once already: counting samples cannot fail now.
	nm, _ := ingest.CountProto(dec, samples...)
	return res.GrowForEstimate(int64(n)+int64(ns)*ingest.CostSeries+int64(nm)*ingest.CostSample,
		fmt.Sprintf("%d series and %d samples", ns, nm))
}
