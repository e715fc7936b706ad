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

	"github.com/golang/snappy"

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
		// The receiver decompresses the body: charge what it decodes to.
		if err := res.GrowTo(int64(n)); err != nil {
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
