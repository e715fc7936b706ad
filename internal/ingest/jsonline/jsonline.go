// Package jsonline ingests newline-delimited JSON log documents
// (POST /api/v1/logs/jsonline) for scripts and curl: one object per line,
// the line taken from _msg/message/msg, the time from _time/time/timestamp,
// stream labels from the _stream_fields query parameter (or the configured
// stream keys), everything else flattened into fields. A bad line refuses
// the request with a 400 naming the line.
//
// A *Handler is safe for concurrent use.
package jsonline

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unsafe"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

// Writer stores rows; *logstore.Writer implements it.
type Writer interface {
	Write(ctx context.Context, rows []model.Event) error
}

// Handler serves the JSON lines endpoint.
type Handler struct {
	Schema          *logstore.Schema
	Writer          Writer
	Mapping         logstore.JSONMapping
	MaxRequestBytes int64
	Limiter         *ingest.Limiter
}

// Decode converts an NDJSON body into rows. Empty lines are skipped. The
// rows' strings alias body (one request's body is parsed without copying
// each line), so body must not be modified while the rows are in use.
func Decode(s *logstore.Schema, tenant string, body []byte, jm logstore.JSONMapping, now int64) ([]model.Event, error) {
	if len(body) == 0 {
		return nil, nil
	}
	// Pre-size for the lines, but not past one row per 32 bytes: a body of
	// empty lines must not reserve a row per newline.
	rows := make([]model.Event, 0, min(bytes.Count(body, []byte{'\n'})+1, len(body)/32+1))
	return s.AppendJSONLines(rows, tenant, unsafe.String(&body[0], len(body)), jm, now)
}

// MappingFromQuery applies the _stream_fields, _msg_field and _time_field
// query parameters (comma-separated) over the handler's mapping.
func (h *Handler) MappingFromQuery(r *http.Request) logstore.JSONMapping {
	jm := h.Mapping
	q := r.URL.Query()
	if v := q.Get("_stream_fields"); v != "" {
		jm.StreamFields = nil
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				jm.StreamFields = append(jm.StreamFields, logstore.StreamLabel{From: f, To: logstore.SanitizeKey(f, 0)})
			}
		}
	}
	if v := q.Get("_msg_field"); v != "" {
		jm.MessageFields = strings.Split(v, ",")
	}
	if v := q.Get("_time_field"); v != "" {
		jm.TimeFields = strings.Split(v, ",")
	}
	return jm
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := h.serve(r)
	if err != nil {
		ingest.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"status\":\"success\",\"rows\":%d}\n", n)
}

func (h *Handler) serve(r *http.Request) (int, error) {
	body, res, err := ingest.ReadBodyReserved(r, h.MaxRequestBytes, h.Limiter)
	defer res.Release()
	if err != nil {
		return 0, err
	}
	if err := res.GrowForItems(len(body), ingest.CountLines(body), "lines", ingest.CostLine); err != nil {
		return 0, err
	}
	tenant := r.Header.Get("X-Scope-OrgID")
	rows, err := Decode(h.Schema, tenant, body, h.MappingFromQuery(r), time.Now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("decode JSON lines: %w: %w", err, failure.ErrInvalid)
	}
	return len(rows), h.Writer.Write(r.Context(), rows)
}
