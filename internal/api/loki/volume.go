package loki

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/lokijson"
)

const (
	// maxVolumeGroups bounds how many series one volume query may
	// aggregate into; each costs a count and a small sample.
	maxVolumeGroups = 2000
	// sizeSample is how many of a group's newest lines are read to
	// estimate its average line size.
	sizeSample = 200
)

// volumeGroup is one output series of a volume query: the matchers that
// select its streams and the labels it reports.
type volumeGroup struct {
	labels   labels.Labels
	matchers []*labels.Matcher
}

// volume answers index/volume (a vector) and index/volume_range (a matrix)
// as Loki defines them: the bytes of log lines per series of the labels
// named in the selector (or targetLabels), or per label name with
// aggregateBy=labels, largest first, at most limit series.
//
// Line counts are exact (the store counts rows per bucket, mostly from
// block headers); bytes are those counts times the average size of a
// sample of each series' newest lines, so no query reads every line. Loki's
// own figures are estimates from chunk metadata too.
func (a *API) volume(ranged bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		q := r.FormValue("query")
		if q == "" {
			writeError(w, badRequest("query parameter is required"))
			return
		}
		ms, err := selectorMatchers(q)
		if err != nil {
			writeError(w, err)
			return
		}
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
		byLabels := false
		switch r.FormValue("aggregateBy") {
		case "", "series":
		case "labels":
			byLabels = true
		default:
			writeError(w, badRequest("invalid aggregateBy %q: want series or labels", r.FormValue("aggregateBy")))
			return
		}
		var targets []string
		for t := range strings.SplitSeq(r.FormValue("targetLabels"), ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
		start, end := tr.start.UnixNano(), tr.end.UnixNano()+1
		step := end - start
		if ranged {
			d := time.Duration(math.Max(math.Floor(tr.end.Sub(tr.start).Seconds()/250), 1)) * time.Second
			if s := r.FormValue("step"); s != "" {
				if d, err = ParseStep(s); err != nil || d <= 0 {
					writeError(w, badRequest("invalid step %q: want a positive duration or float seconds", s))
					return
				}
			}
			step = int64(d)
		}
		tenant := Tenant(r)
		ctx, cancel := context.WithTimeout(r.Context(), a.o.Timeout)
		defer cancel()
		streams, err := a.o.Index.Streams(ctx, tenant, start, end, ms...)
		if err != nil {
			writeError(w, err)
			return
		}
		groups, err := volumeGroups(streams, ms, targets, byLabels)
		if err != nil {
			writeError(w, err)
			return
		}
		res := &logql.Result{Type: logql.TypeVector}
		if ranged {
			res.Type = logql.TypeMatrix
		}
		type scored struct {
			series logql.Series
			total  float64
		}
		var out []scored
		for _, g := range groups {
			eq := eventstore.Query{Tenant: tenant, Signals: []model.Signal{model.SignalLog}, Start: start, End: end, Matchers: g.matchers}
			hr, err := a.o.Index.Hits(ctx, eventstore.HitsQuery{Query: eq, Step: step})
			if err != nil {
				writeError(w, err)
				return
			}
			counts := make([]int64, 0)
			var lines int64
			for _, hg := range hr.Groups {
				if len(counts) < len(hg.Counts) {
					counts = append(counts, make([]int64, len(hg.Counts)-len(counts))...)
				}
				for i, c := range hg.Counts {
					counts[i] += c
					lines += c
				}
			}
			if lines == 0 {
				continue
			}
			avg, err := a.averageLineBytes(ctx, eq)
			if err != nil {
				writeError(w, err)
				return
			}
			s := scored{series: logql.Series{Labels: g.labels}}
			for i, c := range counts {
				if c == 0 {
					continue
				}
				v := math.Round(float64(c) * avg)
				s.total += v
				s.series.Points = append(s.series.Points, logql.Point{T: hr.Start + int64(i)*hr.Step, V: v})
			}
			out = append(out, s)
		}
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].total != out[j].total {
				return out[i].total > out[j].total
			}
			return labels.Compare(out[i].series.Labels, out[j].series.Labels) < 0
		})
		if len(out) > limit {
			out = out[:limit]
		}
		for _, s := range out {
			if ranged {
				res.Matrix = append(res.Matrix, s.series)
			} else {
				res.Vector = append(res.Vector, logql.Sample{Labels: s.series.Labels, T: tr.end.UnixNano(), V: s.total})
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(lokijson.AppendResponse(nil, res, time.Since(began)))
	}
}

// volumeGroups splits the matching streams into output series. In series
// mode a series is the values of the target labels (the selector's label
// names by default); in labels mode it is one series per label name, with
// an empty value, covering the streams that carry that label.
func volumeGroups(streams []labels.Labels, ms []*labels.Matcher, targets []string, byLabels bool) ([]volumeGroup, error) {
	names := targets
	if len(names) == 0 && !byLabels {
		for _, m := range ms {
			if !slices.Contains(names, m.Name) {
				names = append(names, m.Name)
			}
		}
	}
	seen := map[string]bool{}
	var groups []volumeGroup
	add := func(g volumeGroup) error {
		k := g.labels.String()
		if seen[k] {
			return nil
		}
		seen[k] = true
		if len(groups) == maxVolumeGroups {
			return badRequest("volume query matches more than %d series; narrow the selector or set targetLabels", maxVolumeGroups)
		}
		groups = append(groups, g)
		return nil
	}
	for _, st := range streams {
		if byLabels {
			var err error
			st.Range(func(l labels.Label) {
				if err != nil || (len(targets) > 0 && !slices.Contains(targets, l.Name)) {
					return
				}
				err = add(volumeGroup{
					labels:   labels.FromStrings(l.Name, ""),
					matchers: append(slices.Clip(ms), labels.MustNewMatcher(labels.MatchNotEqual, l.Name, "")),
				})
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		b := labels.NewScratchBuilder(len(names))
		sel := slices.Clip(ms)
		for _, n := range names {
			v := st.Get(n)
			if v != "" {
				b.Add(n, v)
			}
			sel = append(sel, labels.MustNewMatcher(labels.MatchEqual, n, v))
		}
		b.Sort()
		if err := add(volumeGroup{labels: b.Labels(), matchers: sel}); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// averageLineBytes reads up to sizeSample of the newest lines q selects and
// returns their mean size in bytes (0 when there are none).
func (a *API) averageLineBytes(ctx context.Context, q eventstore.Query) (float64, error) {
	q.Limit = sizeSample
	var n, total int
	if _, err := a.o.Index.Query(ctx, q, func(e *model.Event) bool {
		n++
		total += len(e.Body)
		return true
	}); err != nil {
		return 0, fmt.Errorf("sample line sizes: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	return float64(total) / float64(n), nil
}
