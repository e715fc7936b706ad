// Package loki serves Loki's HTTP query API over sightline's LogQL engine
// and event store, with Loki's JSON and error shapes so Grafana's Loki data
// source, logcli and loki-canary work: query, query_range (streams and
// matrix), labels, label values, series, index/stats, index/volume and
// volume_range, tail (websocket), format_query and status/buildinfo. Push lives in internal/ingest/loki.
//
// A *API is safe for concurrent use.
package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/lokijson"
)

// Index is what the label, series, stats and volume endpoints read;
// *eventstore.Store implements it.
type Index interface {
	Query(ctx context.Context, q eventstore.Query, fn func(*model.Event) bool) (eventstore.QueryResult, error)
	LabelNames(ctx context.Context, tenant string, start, end int64, ms ...*labels.Matcher) ([]string, error)
	LabelValues(ctx context.Context, tenant string, start, end int64, name string, ms ...*labels.Matcher) ([]string, error)
	Streams(ctx context.Context, tenant string, start, end int64, ms ...*labels.Matcher) ([]labels.Labels, error)
	Hits(ctx context.Context, hq eventstore.HitsQuery) (eventstore.HitsResult, error)
}

// Options configure the API.
type Options struct {
	Engine *logql.Engine
	Index  Index
	// Counter, when set, answers sum/sum by (one label) of count_over_time
	// and rate over push-down filters from the store's bucket counts.
	Counter Counter
	// Version is reported by status/buildinfo next to the Loki API level.
	Version, Revision, Branch, BuildDate, GoVersion string
	// Timeout bounds one query. Default 2m.
	Timeout time.Duration
	// TailPoll is how often tail looks for new lines. Default 1s.
	TailPoll time.Duration
	Logger   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// API is the Loki query API.
type API struct{ o Options }

// New returns the API.
func New(o Options) (*API, error) {
	if o.Engine == nil || o.Index == nil {
		return nil, errors.New("new loki api: Engine and Index are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.TailPoll <= 0 {
		o.TailPoll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &API{o: o}, nil
}

// Register mounts the endpoints on mux under prefix (normally "").
func (a *API) Register(mux *http.ServeMux, prefix string) {
	p := prefix + "/loki/api/v1/"
	for _, m := range []string{"GET ", "POST "} {
		mux.HandleFunc(m+p+"query", a.query)
		mux.HandleFunc(m+p+"query_range", a.queryRange)
		mux.HandleFunc(m+p+"labels", a.labels)
		mux.HandleFunc(m+p+"label", a.labels)
		mux.HandleFunc(m+p+"label/{name}/values", a.labelValues)
		mux.HandleFunc(m+p+"series", a.series)
		mux.HandleFunc(m+p+"index/stats", a.stats)
		mux.HandleFunc(m+p+"index/volume", a.volume(false))
		mux.HandleFunc(m+p+"index/volume_range", a.volume(true))
		mux.HandleFunc(m+p+"format_query", a.formatQuery)
	}
	mux.HandleFunc("GET "+p+"tail", a.tail)
	mux.HandleFunc("GET "+p+"status/buildinfo", a.buildinfo)
	mux.HandleFunc(prefix+"/loki/api/v1/", a.notFound)
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, fmt.Errorf("%s is not a Loki API endpoint: %w", r.URL.Path, failure.ErrNotFound))
}

// Tenant returns the request's X-Scope-OrgID ("" when absent).
func Tenant(r *http.Request) string { return r.Header.Get("X-Scope-OrgID") }

func badRequest(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, failure.ErrInvalid)...)
}

// writeError answers like Loki: a plain-text message with the status.
func writeError(w http.ResponseWriter, err error) {
	code := failure.HTTPStatus(err)
	var pe *logql.ParseError
	var qe *logql.QueryError
	if errors.As(err, &pe) || errors.As(err, &qe) {
		code = http.StatusBadRequest
	}
	msg := err.Error()
	if code == http.StatusBadRequest {
		msg = strings.TrimSuffix(msg, ": "+failure.ErrInvalid.Error())
	}
	http.Error(w, msg, code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// ParseTime parses Loki's time forms: RFC3339(Nano), Unix seconds with a
// fraction, Unix seconds (up to 10 digits) or Unix nanoseconds.
func ParseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if strings.Contains(s, ".") {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(math.Round(frac*1e9))), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if len(strings.TrimPrefix(s, "-")) <= 10 {
			return time.Unix(n, 0), nil
		}
		return time.Unix(0, n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp (use RFC3339 or Unix seconds/nanoseconds)", s)
}

// ParseStep parses a duration ("15s", "1m") or float seconds.
func ParseStep(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1e10 {
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("cannot parse %q as a step (use a duration like 15s or float seconds)", s)
}

type rangeParams struct {
	start, end time.Time
}

func (a *API) timeRange(r *http.Request, defaultSince time.Duration) (rangeParams, error) {
	now := a.o.Now()
	end, err := ParseTime(r.FormValue("end"), now)
	if err != nil {
		return rangeParams{}, badRequest("invalid end: %v", err)
	}
	since := defaultSince
	if s := r.FormValue("since"); s != "" {
		if since, err = time.ParseDuration(s); err != nil {
			return rangeParams{}, badRequest("invalid since: %v", err)
		}
	}
	start, err := ParseTime(r.FormValue("start"), end.Add(-since))
	if err != nil {
		return rangeParams{}, badRequest("invalid start: %v", err)
	}
	if end.Before(start) {
		return rangeParams{}, badRequest("end timestamp must not be before start time")
	}
	return rangeParams{start, end}, nil
}

func parseLimit(r *http.Request, def int) (int, error) {
	s := r.FormValue("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, badRequest("invalid limit %q: must be a positive integer", s)
	}
	return n, nil
}

func (a *API) run(w http.ResponseWriter, r *http.Request, q string, p logql.Params, instant bool) {
	if q == "" {
		writeError(w, badRequest("query parameter is required"))
		return
	}
	expr, err := logql.ParseExpr(q)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, isLog := expr.(*logql.LogExpr); isLog && instant {
		writeError(w, badRequest("log queries are not supported as an instant query type, please change your query to a range query type"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.o.Timeout)
	defer cancel()
	began := time.Now()
	res, ok, err := a.fastCount(ctx, expr, p)
	if err == nil && !ok {
		res, err = a.o.Engine.Eval(ctx, expr, p)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(lokijson.AppendResponse(nil, res, time.Since(began)))
}

func (a *API) query(w http.ResponseWriter, r *http.Request) {
	t, err := ParseTime(r.FormValue("time"), a.o.Now())
	if err != nil {
		writeError(w, badRequest("invalid time: %v", err))
		return
	}
	limit, err := parseLimit(r, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	dir, err := logql.ParseDirection(r.FormValue("direction"))
	if err != nil {
		writeError(w, badRequest("invalid direction: %v", err))
		return
	}
	a.run(w, r, r.FormValue("query"), logql.Params{Tenant: Tenant(r), Start: t, End: t, Limit: limit, Direction: dir}, true)
}

func (a *API) queryRange(w http.ResponseWriter, r *http.Request) {
	tr, err := a.timeRange(r, time.Hour)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := parseLimit(r, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	dir, err := logql.ParseDirection(r.FormValue("direction"))
	if err != nil {
		writeError(w, badRequest("invalid direction: %v", err))
		return
	}
	step := time.Duration(math.Max(math.Floor(tr.end.Sub(tr.start).Seconds()/250), 1)) * time.Second
	if s := r.FormValue("step"); s != "" {
		if step, err = ParseStep(s); err != nil {
			writeError(w, badRequest("invalid step: %v", err))
			return
		}
		if step <= 0 {
			writeError(w, badRequest("zero or negative query resolution step widths are not accepted. Try a positive integer"))
			return
		}
	}
	a.run(w, r, r.FormValue("query"), logql.Params{
		Tenant: Tenant(r), Start: tr.start, End: tr.end, Step: step, Limit: limit, Direction: dir,
	}, false)
}

// selectorMatchers parses the optional query parameter of the label and
// series endpoints (a stream selector, maybe with a pipeline).
func selectorMatchers(q string) ([]*labels.Matcher, error) {
	if q == "" {
		return nil, nil
	}
	expr, err := logql.ParseExpr(q)
	if err != nil {
		return nil, err
	}
	sels := logql.Selectors(expr)
	if len(sels) != 1 {
		return nil, badRequest("query %q must have exactly one stream selector", q)
	}
	return sels[0], nil
}

type listResponse struct {
	Status string `json:"status"`
	Data   any    `json:"data"`
}

func (a *API) labels(w http.ResponseWriter, r *http.Request) {
	a.stringList(w, r, func(ctx context.Context, tenant string, start, end int64, ms []*labels.Matcher) ([]string, error) {
		return a.o.Index.LabelNames(ctx, tenant, start, end, ms...)
	})
}

func (a *API) labelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a.stringList(w, r, func(ctx context.Context, tenant string, start, end int64, ms []*labels.Matcher) ([]string, error) {
		return a.o.Index.LabelValues(ctx, tenant, start, end, name, ms...)
	})
}

// stringList answers the label names and label values endpoints: the time
// range (default the last 6 hours) and optional `query` selector of r go
// to list, whose answer is written as a JSON list (never null).
func (a *API) stringList(w http.ResponseWriter, r *http.Request,
	list func(ctx context.Context, tenant string, start, end int64, ms []*labels.Matcher) ([]string, error)) {
	tr, err := a.timeRange(r, 6*time.Hour)
	if err != nil {
		writeError(w, err)
		return
	}
	ms, err := selectorMatchers(r.FormValue("query"))
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := list(r.Context(), Tenant(r), tr.start.UnixNano(), tr.end.UnixNano()+1, ms)
	if err != nil {
		writeError(w, err)
		return
	}
	if out == nil {
		out = []string{}
	}
	writeJSON(w, listResponse{"success", out})
}

func (a *API) series(w http.ResponseWriter, r *http.Request) {
	tr, err := a.timeRange(r, 6*time.Hour)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, badRequest("parse form: %v", err))
		return
	}
	sels := r.Form["match[]"]
	if len(sels) == 0 {
		sels = r.Form["match"]
	}
	if len(sels) == 0 {
		sels = []string{""}
	}
	seen := map[string]bool{}
	out := []map[string]string{}
	for _, sel := range sels {
		ms, err := selectorMatchers(sel)
		if err != nil {
			writeError(w, err)
			return
		}
		sets, err := a.o.Index.Streams(r.Context(), Tenant(r), tr.start.UnixNano(), tr.end.UnixNano()+1, ms...)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, ls := range sets {
			k := ls.String()
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, ls.Map())
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.FromMap(out[i]).String() < labels.FromMap(out[j]).String() })
	writeJSON(w, listResponse{"success", out})
}

// stats answers index/stats: streams and entries are exact (entries from
// the store's Hits, mostly from block headers); chunks counts streams (the
// store has no chunks); bytes is an estimate, entries times the average
// size of a sample of the newest lines, so the answer never reads every
// line (Loki's figures are estimates too).
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	tr, err := a.timeRange(r, time.Hour)
	if err != nil {
		writeError(w, err)
		return
	}
	ms, err := selectorMatchers(r.FormValue("query"))
	if err != nil {
		writeError(w, err)
		return
	}
	tenant := Tenant(r)
	start, end := tr.start.UnixNano(), tr.end.UnixNano()+1
	sets, err := a.o.Index.Streams(r.Context(), tenant, start, end, ms...)
	if err != nil {
		writeError(w, err)
		return
	}
	var entries, bytes int64
	if len(sets) > 0 {
		eq := eventstore.Query{Tenant: tenant, Signals: []model.Signal{model.SignalLog}, Start: start, End: end, Matchers: ms}
		hr, err := a.o.Index.Hits(r.Context(), eventstore.HitsQuery{Query: eq, Step: end - start})
		if err != nil {
			writeError(w, err)
			return
		}
		for _, g := range hr.Groups {
			for _, c := range g.Counts {
				entries += c
			}
		}
		if entries > 0 {
			avg, err := a.averageLineBytes(r.Context(), eq)
			if err != nil {
				writeError(w, err)
				return
			}
			bytes = int64(math.Round(avg * float64(entries)))
		}
	}
	writeJSON(w, map[string]int64{"streams": int64(len(sets)), "chunks": int64(len(sets)), "entries": entries, "bytes": bytes})
}

func (a *API) formatQuery(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	expr, err := logql.ParseExpr(q)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, listResponse{"success", expr.String()})
}

func (a *API) buildinfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]string{
		// Grafana enables features by Loki version; sightline implements
		// the Loki 3.x query API, so it reports that level.
		"version":   "3.7.0",
		"revision":  a.o.Revision,
		"branch":    a.o.Branch,
		"buildUser": "sightline " + a.o.Version,
		"buildDate": a.o.BuildDate,
		"goVersion": a.o.GoVersion,
	})
}
