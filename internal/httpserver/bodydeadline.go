package httpserver

import (
	"net/http"
	"time"
)

// BodyDeadline bounds how long a request may take to send its body. Ingest
// handlers reserve a request's share of the in-flight budget from its
// Content-Length before reading, so a client trickling a large body would
// otherwise hold that share, and push everyone else into 429s, for as long
// as it liked. Past d, reading the body fails with os.ErrDeadlineExceeded
// (ingest answers 408). net/http lifts the deadline once the body has been
// read to its end, so a handler that runs long afterwards (a query) is not
// cut off; TestBodyDeadline holds it to that. Requests without a body are
// left alone; d ≤ 0 disables it.
func BodyDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			// An error means the connection takes no deadlines; serve anyway.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}
