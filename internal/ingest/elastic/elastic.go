// Package elastic accepts logs in the Elasticsearch bulk format
// (POST /elastic/_bulk and /elastic/<index>/_bulk, NDJSON index/create
// actions) and answers the few info endpoints shippers probe at start
// (GET /, _license, _xpack, template/ILM/pipeline checks), so Fluent Bit,
// Vector, Filebeat, Logstash and rsyslog's omelasticsearch work with only the
// path prefix configured. Every response carries X-Elastic-Product:
// Elasticsearch, which the official clients require. Documents become rows
// through logstore's JSON mapping; the index name is kept as es_index.
//
// A *Handler is safe for concurrent use.
package elastic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

// Writer stores rows; *logstore.Writer implements it.
type Writer interface {
	Write(ctx context.Context, rows []model.Event) error
}

// Handler serves the Elasticsearch-compatible endpoints.
type Handler struct {
	Schema          *logstore.Schema
	Writer          Writer
	Mapping         logstore.JSONMapping
	MaxRequestBytes int64
	Limiter         *ingest.Limiter
	// Version is the Elasticsearch version reported to clients. Default 8.11.0.
	Version string

	seq atomic.Uint64
}

// IndexField is the attribute holding a document's index name.
const IndexField = "es_index"

// Register mounts the endpoints under prefix (e.g. "/elastic").
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	if h.Version == "" {
		h.Version = "8.11.0"
	}
	mux.Handle(prefix+"/", productHeader(http.HandlerFunc(h.route), prefix))
	mux.Handle(prefix, productHeader(http.HandlerFunc(h.info), prefix))
}

func productHeader(next http.Handler, prefix string) http.Handler {
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		if strings.Contains(r.Header.Get("Accept"), "compatible-with=") {
			// The official clients ask for versioned media types.
			w.Header().Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
		}
		next.ServeHTTP(w, r)
	}))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in Elasticsearch's error shape.
func writeError(w http.ResponseWriter, err error) {
	code := failure.HTTPStatus(err)
	typ := "illegal_argument_exception"
	switch code {
	case http.StatusTooManyRequests:
		typ = "es_rejected_execution_exception"
		w.Header().Set("Retry-After", "1")
	case http.StatusRequestEntityTooLarge:
		typ = "content_too_long_exception"
	case http.StatusNotFound:
		typ = "resource_not_found_exception"
	case http.StatusInternalServerError, http.StatusServiceUnavailable:
		typ = "exception"
	}
	cause := map[string]any{"type": typ, "reason": err.Error()}
	writeJSON(w, code, map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": err.Error()}, "status": code})
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	segs := strings.Split(path, "/")
	last := segs[len(segs)-1]
	switch {
	case path == "":
		h.info(w, r)
	case last == "_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut) && len(segs) <= 2:
		index := ""
		if len(segs) == 2 {
			index = segs[0]
		}
		h.bulk(w, r, index)
	case path == "_license":
		writeJSON(w, 200, map[string]any{"license": map[string]any{
			"status": "active", "uid": "00000000-0000-0000-0000-000000000000", "type": "basic",
			"issue_date": "2024-01-01T00:00:00.000Z", "issue_date_in_millis": 1704067200000,
			"max_nodes": 1000, "issued_to": "sightline", "issuer": "sightline", "start_date_in_millis": -1,
		}})
	case path == "_xpack":
		writeJSON(w, 200, map[string]any{
			"build":    map[string]any{"hash": "", "date": ""},
			"license":  map[string]any{"uid": "00000000-0000-0000-0000-000000000000", "type": "basic", "mode": "basic", "status": "active"},
			"features": map[string]any{},
		})
	case path == "_cat/health":
		// rsyslog's omelasticsearch checks this before sending.
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		fmt.Fprintf(w, "%d %s sightline green 1 1 0 0 0 0 0 0 - 100.0%%\n", time.Now().Unix(), time.Now().UTC().Format("15:04:05"))
	case path == "_cluster/health":
		writeJSON(w, 200, map[string]any{"cluster_name": "sightline", "status": "green", "number_of_nodes": 1, "number_of_data_nodes": 1})
	case path == "_nodes" || strings.HasPrefix(path, "_nodes/"):
		writeJSON(w, 200, map[string]any{"_nodes": map[string]int{"total": 1, "successful": 1, "failed": 0}, "cluster_name": "sightline",
			"nodes": map[string]any{"sightline": map[string]any{"name": "sightline", "version": h.Version, "roles": []string{"master", "data", "ingest"}}}})
	case isMetaPath(segs[0]):
		// Templates, ILM policies, pipelines, data streams: sightline has
		// no mappings to manage; answer as if they exist and accept them.
		switch r.Method {
		case http.MethodHead:
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			writeJSON(w, 200, map[string]any{})
		default:
			writeJSON(w, 200, map[string]any{"acknowledged": true})
		}
	case r.Method == http.MethodHead || r.Method == http.MethodPut && len(segs) == 1:
		// Index existence checks and index creation.
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": segs[0]})
	default:
		writeError(w, fmt.Errorf("%s /%s is not supported by sightline's Elasticsearch bulk endpoint (only _bulk ingest and the probes shippers use): %w", r.Method, path, failure.ErrNotFound))
	}
}

func isMetaPath(s string) bool {
	switch s {
	case "_template", "_index_template", "_component_template", "_ilm", "_ingest", "_data_stream", "_alias", "_aliases":
		return true
	}
	return false
}

func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, 200, map[string]any{
		"name": "sightline", "cluster_name": "sightline", "cluster_uuid": "c2lnaHRsaW5lLWNsdXN0ZXI",
		"version": map[string]any{
			"number": h.Version, "build_flavor": "default", "build_type": "sightline",
			"lucene_version": "9.8.0", "minimum_wire_compatibility_version": "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

// Item is one action's outcome in a bulk response.
type Item struct {
	Action string
	Index  string
	ID     string
	Status int
	Err    string
}

// Doc is a decoded document to store.
type Doc struct {
	Item int // index into the items
	Row  model.Event
}

// DecodeBulk parses a bulk body: index and create actions with their
// documents become rows; other actions and bad documents become failed
// items. An error means the body as a whole is malformed.
func DecodeBulk(s *logstore.Schema, tenant, defIndex string, body []byte, jm logstore.JSONMapping, now int64) ([]Item, []Doc, error) {
	var items []Item
	var docs []Doc
	line := 0
	next := func() ([]byte, bool) {
		for len(body) > 0 {
			line++
			var l []byte
			if i := bytes.IndexByte(body, '\n'); i >= 0 {
				l, body = body[:i], body[i+1:]
			} else {
				l, body = body, nil
			}
			if l = bytes.TrimSpace(l); len(l) > 0 {
				return l, true
			}
		}
		return nil, false
	}
	for {
		al, ok := next()
		if !ok {
			break
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(al, &action); err != nil || len(action) != 1 {
			return nil, nil, fmt.Errorf("line %d: want an action line like {\"index\":{}} or {\"create\":{}}: %s", line, describe(err))
		}
		for name, meta := range action {
			it := Item{Action: name, Index: meta.Index, ID: meta.ID}
			if it.Index == "" {
				it.Index = defIndex
			}
			switch name {
			case "index", "create":
				dl, ok := next()
				if !ok {
					return nil, nil, fmt.Errorf("line %d: %s action without a document line", line, name)
				}
				ev, err := s.FromJSONBytes(tenant, dl, jm, now)
				if err == nil {
					if it.Index != "" {
						addIndex(&ev, it.Index)
					}
					docs = append(docs, Doc{Item: len(items), Row: ev})
					it.Status = http.StatusCreated
				}
				if err != nil {
					it.Status, it.Err = http.StatusBadRequest, fmt.Sprintf("line %d: %v", line, err)
				}
			case "update":
				if _, ok := next(); !ok {
					return nil, nil, fmt.Errorf("line %d: update action without a document line", line)
				}
				it.Status, it.Err = http.StatusBadRequest, "update is not supported: log rows are immutable (use index or create)"
			case "delete":
				it.Status, it.Err = http.StatusBadRequest, "delete is not supported: log rows are removed by retention"
			default:
				return nil, nil, fmt.Errorf("line %d: unknown bulk action %q (use index or create)", line, name)
			}
			items = append(items, it)
		}
	}
	return items, docs, nil
}

func describe(err error) string {
	if err == nil {
		return "exactly one action per line"
	}
	return err.Error()
}

func addIndex(ev *model.Event, index string) {
	for i := range ev.Attrs {
		if ev.Attrs[i].Key == IndexField {
			ev.Attrs[i].Value = model.StringValue(index)
			return
		}
	}
	ev.Attrs = append(ev.Attrs, model.Attr{Key: IndexField, Value: model.StringValue(index)})
}

func (h *Handler) bulk(w http.ResponseWriter, r *http.Request, index string) {
	began := time.Now()
	body, res, err := ingest.ReadBodyReserved(r, h.MaxRequestBytes, h.Limiter)
	defer res.Release()
	if err == nil {
		err = res.GrowForItems(len(body), ingest.CountLines(body), "lines", ingest.CostLine)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	items, docs, err := DecodeBulk(h.Schema, r.Header.Get("X-Scope-OrgID"), index, body, h.Mapping, time.Now().UnixNano())
	if err != nil {
		writeError(w, fmt.Errorf("decode bulk request: %w: %w", err, failure.ErrInvalid))
		return
	}
	rows := make([]model.Event, len(docs))
	for i := range docs {
		rows[i] = docs[i].Row
	}
	if err := h.Writer.Write(r.Context(), rows); err != nil {
		writeError(w, err)
		return
	}
	h.writeBulkResponse(w, items, began)
}

// bulkCreated and bulkFailed are the items of a bulk response.
type bulkCreated struct {
	ID          string      `json:"_id"`
	Index       string      `json:"_index"`
	PrimaryTerm int         `json:"_primary_term"`
	SeqNo       uint64      `json:"_seq_no"`
	Shards      *bulkShards `json:"_shards"`
	Version     int         `json:"_version"`
	Result      string      `json:"result"`
	Status      int         `json:"status"`
}

type bulkFailed struct {
	ID     string        `json:"_id,omitempty"`
	Index  string        `json:"_index"`
	Error  bulkItemError `json:"error"`
	Status int           `json:"status"`
}

type bulkShards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

type bulkItemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// writeBulkResponse writes Elasticsearch's bulk response item by item, so
// a request of many small items does not build its whole answer in memory.
func (h *Handler) writeBulkResponse(w http.ResponseWriter, items []Item, began time.Time) {
	errs := false
	for _, it := range items {
		errs = errs || it.Err != ""
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprintf(bw, `{"errors":%t,"items":[`, errs)
	shards := &bulkShards{Total: 1, Successful: 1}
	for i, it := range items {
		var res any
		if it.Err != "" {
			res = bulkFailed{ID: it.ID, Index: it.Index, Status: it.Status,
				Error: bulkItemError{Type: "mapper_parsing_exception", Reason: it.Err}}
		} else {
			id := it.ID
			if id == "" {
				id = strconv.FormatInt(began.UnixNano(), 36) + "-" + strconv.FormatUint(h.seq.Add(1), 36)
			}
			res = bulkCreated{ID: id, Index: it.Index, PrimaryTerm: 1, SeqNo: h.seq.Load(), Shards: shards,
				Version: 1, Result: "created", Status: it.Status}
		}
		b, err := json.Marshal(map[string]any{it.Action: res})
		if err != nil {
			return // cannot happen: the fields are strings and numbers
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
	}
	fmt.Fprintf(bw, `],"took":%d}`+"\n", time.Since(began).Milliseconds())
	_ = bw.Flush()
}
