// Package jaeger serves the Jaeger query HTTP API (/api/services,
// /api/services/{service}/operations, /api/operations, /api/traces,
// /api/traces/{id}, /api/dependencies) with Jaeger's JSON shapes, so
// Grafana's Jaeger data source and the Jaeger UI work against sightline.
// Traces come from a Reader; dependencies from a DependencyReader over the
// service-graph series (no span scans).
//
// Multi-tenancy: every read is scoped to the tenant in the request's
// X-Scope-OrgID header (none: the default tenant), as Jaeger's and Tempo's
// multi-tenant setups do.
//
// A *Handler is safe for concurrent use.
package jaeger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/spanmetrics"
	"github.com/sightline/sightline/internal/tracestore"
)

// Reader is what the API needs from the trace store.
type Reader interface {
	TraceByID(ctx context.Context, id model.TraceID, start, end int64) (tracestore.Trace, bool, error)
	FindTraces(ctx context.Context, q tracestore.Search) ([]tracestore.Trace, error)
	Services(ctx context.Context, start, end int64) ([]string, error)
	Operations(ctx context.Context, service string, start, end int64) ([]tracestore.Operation, error)
}

// DependencyReader returns the service-graph edges of a time range.
type DependencyReader func(ctx context.Context, start, end time.Time) ([]spanmetrics.Edge, error)

// Handler serves the API.
type Handler struct {
	Reader       Reader
	Dependencies DependencyReader
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Register mounts the API on mux under prefix ("" gives /api/...).
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/api/services", h.services)
	mux.HandleFunc("GET "+prefix+"/api/services/{service}/operations", h.serviceOperations)
	mux.HandleFunc("GET "+prefix+"/api/operations", h.operations)
	mux.HandleFunc("GET "+prefix+"/api/traces", h.findTraces)
	mux.HandleFunc("GET "+prefix+"/api/traces/{id}", h.trace)
	mux.HandleFunc("GET "+prefix+"/api/dependencies", h.dependencies)
}

type response struct {
	Data   any         `json:"data"`
	Total  int         `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
	Errors []respError `json:"errors"`
}

type respError struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeData(w http.ResponseWriter, data any, total int) {
	writeJSON(w, http.StatusOK, response{Data: data, Total: total})
}

func writeErr(w http.ResponseWriter, err error) {
	code := failure.HTTPStatus(err)
	writeJSON(w, code, response{Errors: []respError{{Code: code, Msg: err.Error()}}})
}

// tenantContext returns r's context carrying the tenant its X-Scope-OrgID
// header names ("" when absent: the default tenant), which the trace store
// and the service-graph reader scope every read to.
func tenantContext(r *http.Request) context.Context {
	return tracestore.WithTenant(r.Context(), tracestore.RequestTenant(r))
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) services(w http.ResponseWriter, r *http.Request) {
	svcs, err := h.Reader.Services(tenantContext(r), 0, 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	if svcs == nil {
		svcs = []string{}
	}
	writeData(w, svcs, len(svcs))
}

func (h *Handler) serviceOperations(w http.ResponseWriter, r *http.Request) {
	ops, err := h.Reader.Operations(tenantContext(r), r.PathValue("service"), 0, 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	names := []string{}
	seen := map[string]bool{}
	for _, o := range ops {
		if !seen[o.Name] {
			seen[o.Name] = true
			names = append(names, o.Name)
		}
	}
	writeData(w, names, len(names))
}

type operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

func (h *Handler) operations(w http.ResponseWriter, r *http.Request) {
	svc := r.URL.Query().Get("service")
	if svc == "" {
		writeErr(w, fmt.Errorf("parameter 'service' is required: %w", failure.ErrInvalid))
		return
	}
	ops, err := h.Reader.Operations(tenantContext(r), svc, 0, 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	kind := r.URL.Query().Get("spanKind")
	out := []operation{}
	for _, o := range ops {
		k := tracestore.KindName(o.Kind)
		if kind != "" && k != kind {
			continue
		}
		out = append(out, operation{Name: o.Name, SpanKind: k})
	}
	writeData(w, out, len(out))
}

// parseDuration accepts Go durations ("1.5s", "100ms", "20us").
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse duration %q: %w", s, failure.ErrInvalid)
	}
	return d, nil
}

func parseMicros(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse time %q (want Unix microseconds): %w", s, failure.ErrInvalid)
	}
	return v * 1000, nil
}

// SearchFromQuery parses /api/traces parameters.
func (h *Handler) SearchFromQuery(v map[string][]string) (tracestore.Search, error) {
	get := func(k string) string {
		if len(v[k]) > 0 {
			return v[k][0]
		}
		return ""
	}
	q := tracestore.Search{Service: get("service"), Operation: get("operation"), Tags: map[string]string{}}
	if q.Operation == "all" {
		q.Operation = ""
	}
	var err error
	if q.MinDuration, err = parseDuration(get("minDuration")); err != nil {
		return q, err
	}
	if q.MaxDuration, err = parseDuration(get("maxDuration")); err != nil {
		return q, err
	}
	if q.Start, err = parseMicros(get("start")); err != nil {
		return q, err
	}
	if q.End, err = parseMicros(get("end")); err != nil {
		return q, err
	}
	if lb := get("lookback"); lb != "" && lb != "custom" && q.Start == 0 {
		d, err := parseDuration(lb)
		if err != nil {
			return q, err
		}
		end := q.End
		if end == 0 {
			end = h.now().UnixNano()
		}
		q.Start = end - d.Nanoseconds()
	}
	if l := get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 0 {
			return q, fmt.Errorf("parse limit %q: %w", l, failure.ErrInvalid)
		}
	}
	for _, t := range v["tags"] {
		if strings.HasPrefix(strings.TrimSpace(t), "{") {
			m := map[string]string{}
			if err := json.Unmarshal([]byte(t), &m); err != nil {
				return q, fmt.Errorf("parse tags %q (want a JSON object of strings): %w", t, failure.ErrInvalid)
			}
			for k, val := range m {
				q.Tags[k] = val
			}
			continue
		}
		m, err := tracestore.ParseTags(t)
		if err != nil {
			return q, err
		}
		for k, val := range m {
			q.Tags[k] = val
		}
	}
	for _, t := range v["tag"] {
		k, val, ok := strings.Cut(t, ":")
		if !ok {
			return q, fmt.Errorf("parse tag %q (want key:value): %w", t, failure.ErrInvalid)
		}
		q.Tags[k] = val
	}
	return q, nil
}

func (h *Handler) findTraces(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if ids := v["traceID"]; len(ids) > 0 {
		out := []Trace{}
		for _, s := range ids {
			id, err := model.ParseTraceID(s)
			if err != nil {
				writeErr(w, fmt.Errorf("%w: %w", failure.ErrInvalid, err))
				return
			}
			t, ok, err := h.Reader.TraceByID(tenantContext(r), id, 0, 0)
			if err != nil {
				writeErr(w, err)
				return
			}
			if ok {
				out = append(out, FromTrace(&t))
			}
		}
		writeData(w, out, len(out))
		return
	}
	q, err := h.SearchFromQuery(v)
	if err != nil {
		writeErr(w, err)
		return
	}
	ts, err := h.Reader.FindTraces(tenantContext(r), q)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := make([]Trace, len(ts))
	for i := range ts {
		out[i] = FromTrace(&ts[i])
	}
	writeData(w, out, len(out))
}

func (h *Handler) trace(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseTraceID(r.PathValue("id"))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %w", failure.ErrInvalid, err))
		return
	}
	v := r.URL.Query()
	start, err := parseMicros(v.Get("start"))
	if err != nil {
		writeErr(w, err)
		return
	}
	end, err := parseMicros(v.Get("end"))
	if err != nil {
		writeErr(w, err)
		return
	}
	t, ok, err := h.Reader.TraceByID(tenantContext(r), id, start, end)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, response{Errors: []respError{{Code: 404, Msg: "trace not found", TraceID: FormatTraceID(id)}}})
		return
	}
	writeData(w, []Trace{FromTrace(&t)}, 1)
}

// Dependency is a Jaeger dependency link.
type Dependency struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount uint64 `json:"callCount"`
}

func (h *Handler) dependencies(w http.ResponseWriter, r *http.Request) {
	if h.Dependencies == nil {
		writeErr(w, errors.New("dependencies are not available"))
		return
	}
	v := r.URL.Query()
	end := h.now()
	if s := v.Get("endTs"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			writeErr(w, fmt.Errorf("parse endTs %q (want Unix milliseconds): %w", s, failure.ErrInvalid))
			return
		}
		end = time.UnixMilli(ms)
	}
	lookback := 24 * time.Hour
	if s := v.Get("lookback"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms <= 0 {
			writeErr(w, fmt.Errorf("parse lookback %q (want milliseconds): %w", s, failure.ErrInvalid))
			return
		}
		lookback = time.Duration(ms) * time.Millisecond
	}
	edges, err := h.Dependencies(tenantContext(r), end.Add(-lookback), end)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []Dependency{}
	for _, e := range edges {
		out = append(out, Dependency{Parent: e.Client, Child: e.Server, CallCount: uint64(e.Calls + 0.5)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Parent != out[j].Parent {
			return out[i].Parent < out[j].Parent
		}
		return out[i].Child < out[j].Child
	})
	writeData(w, out, len(out))
}
