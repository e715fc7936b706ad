// Package logs serves sightline's own log endpoints for the UI:
// /api/v1/logs/query (a LogQL log query as a flat, time-ordered JSON page
// with a cursor for the next page) and /api/v1/logs/hits (line counts per
// time bucket, optionally per value of a field or level, computed inside the
// event store without shipping rows).
//
// A *API is safe for concurrent use.
package logs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/api/loki"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// Hitter counts rows per bucket; *eventstore.Store implements it.
type Hitter interface {
	Hits(ctx context.Context, hq eventstore.HitsQuery) (eventstore.HitsResult, error)
}

// Options configure the API.
type Options struct {
	Engine *logql.Engine
	Hits   Hitter
	Source *logstore.Source
	// MaxLimit caps a page. Default 1000.
	MaxLimit int
	// MaxBuckets caps the buckets of a hits query. Default 1000.
	MaxBuckets int
	Timeout    time.Duration
	Now        func() time.Time
}

// API serves the endpoints.
type API struct{ o Options }

// New returns the API.
func New(o Options) (*API, error) {
	if o.Engine == nil || o.Hits == nil || o.Source == nil {
		return nil, errors.New("new logs api: Engine, Hits and Source are required")
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = 1000
	}
	if o.MaxBuckets <= 0 {
		o.MaxBuckets = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &API{o: o}, nil
}

// Register mounts the endpoints on mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, m := range []string{"GET ", "POST "} {
		mux.HandleFunc(m+"/api/v1/logs/query", a.query)
		mux.HandleFunc(m+"/api/v1/logs/hits", a.hits)
	}
}

type errorBody struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	code := failure.HTTPStatus(err)
	var pe *logql.ParseError
	var qe *logql.QueryError
	if errors.As(err, &pe) || errors.As(err, &qe) {
		code = http.StatusBadRequest
	}
	typ := "internal"
	switch code {
	case http.StatusBadRequest:
		typ = "bad_data"
	case http.StatusServiceUnavailable, 499:
		typ = "timeout"
	case http.StatusNotFound:
		typ = "not_found"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{"error", typ, err.Error()})
}

func writeJSON(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func bad(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, failure.ErrInvalid)...)
}

func (a *API) timeRange(r *http.Request) (time.Time, time.Time, error) {
	now := a.o.Now()
	end, err := loki.ParseTime(r.FormValue("end"), now)
	if err != nil {
		return end, end, bad("end: %v", err)
	}
	start, err := loki.ParseTime(r.FormValue("start"), end.Add(-time.Hour))
	if err != nil {
		return start, end, bad("start: %v", err)
	}
	if !end.After(start) {
		return start, end, bad("end must be after start")
	}
	return start, end, nil
}

// Row is one line of a query page.
type Row struct {
	Time   string            `json:"time"`
	TS     int64             `json:"ts"` // Unix ns
	Line   string            `json:"line"`
	Labels map[string]string `json:"labels"`
}

// cursor marks where a page stopped: the last timestamp and how many rows
// with that timestamp were already returned.
type cursor struct {
	TS   int64
	Skip int
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.TS, 10) + ":" + strconv.Itoa(c.Skip)))
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad("cursor is not one returned by this API")
	}
	ts, skip, ok := strings.Cut(string(b), ":")
	t, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.Atoi(skip)
	if !ok || err1 != nil || err2 != nil || n < 0 {
		return cursor{}, bad("cursor is not one returned by this API")
	}
	return cursor{t, n}, nil
}

func (a *API) query(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	if q == "" {
		writeError(w, bad("query parameter is required (a LogQL log query such as {service_name=\"cart\"} |= \"error\")"))
		return
	}
	expr, err := logql.ParseLogExpr(q)
	if err != nil {
		writeError(w, err)
		return
	}
	start, end, err := a.timeRange(r)
	if err != nil {
		writeError(w, err)
		return
	}
	limit := 100
	if s := r.FormValue("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit <= 0 || limit > a.o.MaxLimit {
			writeError(w, bad("limit %q: want 1 to %d", s, a.o.MaxLimit))
			return
		}
	}
	dir, err := logql.ParseDirection(r.FormValue("direction"))
	if err != nil {
		writeError(w, bad("direction: %v", err))
		return
	}
	var cur cursor
	if s := r.FormValue("cursor"); s != "" {
		if cur, err = parseCursor(s); err != nil {
			writeError(w, err)
			return
		}
		// Resume at the cursor's timestamp (inclusive), skipping the rows
		// of that timestamp already returned.
		if dir == logql.Backward {
			end = time.Unix(0, cur.TS+1)
		} else {
			start = time.Unix(0, cur.TS)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.o.Timeout)
	defer cancel()
	res, err := a.o.Engine.Eval(ctx, expr, logql.Params{
		Tenant: r.Header.Get("X-Scope-OrgID"), Start: start, End: end, Direction: dir, Limit: limit + cur.Skip + 1,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	rows := flatten(res, dir)
	if cur.Skip > 0 {
		n := 0
		for n < len(rows) && n < cur.Skip && rows[n].TS == cur.TS {
			n++
		}
		rows = rows[n:]
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1].TS
		skip := 0
		for i := len(rows) - 1; i >= 0 && rows[i].TS == last; i-- {
			skip++
		}
		if last == cur.TS {
			skip += cur.Skip
		}
		next = cursor{last, skip}.encode()
	}
	writeJSON(w, map[string]any{"rows": rows, "next_cursor": next})
}

// flatten merges a streams result into one list in direction order.
func flatten(res *logql.Result, dir logql.Direction) []Row {
	var rows []Row
	for _, s := range res.Streams {
		lm := s.Labels.Map()
		for _, e := range s.Entries {
			rows = append(rows, Row{Time: time.Unix(0, e.Timestamp).UTC().Format(time.RFC3339Nano), TS: e.Timestamp, Line: e.Line, Labels: lm})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if dir == logql.Forward {
			return rows[i].TS < rows[j].TS
		}
		return rows[i].TS > rows[j].TS
	})
	return rows
}

// HitsSeries is one group's counts.
type HitsSeries struct {
	Value  string  `json:"value"`
	Counts []int64 `json:"counts"`
	Total  int64   `json:"total"`
}

func (a *API) hits(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	if q == "" {
		q = "{}"
	}
	start, end, err := a.timeRange(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var sp logql.SelectParams
	if q != "{}" {
		expr, err := logql.ParseLogExpr(q)
		if err != nil {
			writeError(w, err)
			return
		}
		sp, err = hitsParams(expr)
		if err != nil {
			writeError(w, err)
			return
		}
	}
	step := end.Sub(start) / 60
	if s := r.FormValue("step"); s != "" {
		if step, err = loki.ParseStep(s); err != nil || step <= 0 {
			writeError(w, bad("step %q: want a positive duration", s))
			return
		}
	}
	step = max(step, time.Millisecond)
	if n := end.Sub(start) / step; int(n) > a.o.MaxBuckets {
		writeError(w, bad("%d buckets exceed %d: use a larger step", n, a.o.MaxBuckets))
		return
	}
	sp.Tenant, sp.Start, sp.End = r.Header.Get("X-Scope-OrgID"), start.UnixNano(), end.UnixNano()
	plan, err := a.o.Source.Plan(r.Context(), sp)
	if err != nil {
		writeError(w, err)
		return
	}
	if !plan.Exact {
		writeError(w, bad("hits counts need filters the store can apply exactly: use one value per line filter and no label filters on names that are also stream labels"))
		return
	}
	plan.Query.Limit = 0
	group := r.FormValue("field")
	if group == logstore.MetaLevel {
		group = model.FieldSeverity
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.o.Timeout)
	defer cancel()
	hr, err := a.o.Hits.Hits(ctx, eventstore.HitsQuery{Query: plan.Query, Step: int64(step), GroupBy: group})
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]HitsSeries, 0, len(hr.Groups))
	var total int64
	for _, g := range hr.Groups {
		hs := HitsSeries{Value: g.Value, Counts: g.Counts}
		for _, c := range g.Counts {
			hs.Total += c
		}
		total += hs.Total
		out = append(out, hs)
	}
	writeJSON(w, map[string]any{
		"start": start.UnixNano(), "step": int64(step), "field": r.FormValue("field"),
		"groups": out, "total": total,
		"stats": map[string]any{"blocks_read": hr.Stats.BlocksRead, "blocks_total": hr.Stats.BlocksTotal, "rows_scanned": hr.Stats.RowsScanned},
	})
}

// hitsParams turns a log query made of a selector, line filters and label
// filters into select parameters the store can count exactly.
func hitsParams(e *logql.LogExpr) (logql.SelectParams, error) {
	sp, ok := logstore.SelectParamsOf(e)
	if !ok {
		return sp, bad("hits supports a stream selector, |= != |~ !~ line filters and and-ed label matchers; %q has other stages", e.String())
	}
	return sp, nil
}
