package spanmetrics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"

	"github.com/sightline/sightline/internal/tracestore"
)

// Edge is a service-graph edge with its request count in a time range.
type Edge struct {
	Client, Server, ConnectionType string
	Calls, Failed                  float64
}

// Dependencies reads the service-graph counters of the tenant in ctx
// (tracestore.WithTenant; none: the default tenant) from q and returns
// each edge's increase over [start, end], counter resets handled. Only
// series are read; no spans are scanned.
func Dependencies(ctx context.Context, q storage.Queryable, start, end time.Time) ([]Edge, error) {
	tenant := tracestore.TenantFrom(ctx)
	calls, err := increases(ctx, q, tenant, GraphRequestTotal, start, end)
	if err != nil {
		return nil, err
	}
	failed, err := increases(ctx, q, tenant, GraphRequestFailed, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]Edge, 0, len(calls))
	for k, v := range calls {
		if v <= 0 {
			continue
		}
		out = append(out, Edge{Client: k[0], Server: k[1], ConnectionType: k[2], Calls: v, Failed: failed[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Client != out[j].Client {
			return out[i].Client < out[j].Client
		}
		return out[i].Server < out[j].Server
	})
	return out, nil
}

func increases(ctx context.Context, q storage.Queryable, tenant, name string, start, end time.Time) (map[[3]string]float64, error) {
	// Look back a while before start for each series' baseline.
	mint, maxt := start.Add(-2*time.Hour).UnixMilli(), end.UnixMilli()
	qr, err := q.Querier(mint, maxt)
	if err != nil {
		return nil, fmt.Errorf("query service graph: %w", err)
	}
	defer qr.Close()
	set := qr.Select(ctx, false, &storage.SelectHints{Start: mint, End: maxt},
		labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name),
		// tenant="" matches the series without the label: the default tenant.
		labels.MustNewMatcher(labels.MatchEqual, LabelTenant, tenant))
	out := map[[3]string]float64{}
	startMs := start.UnixMilli()
	for set.Next() {
		s := set.At()
		ls := s.Labels()
		key := [3]string{ls.Get("client"), ls.Get("server"), ls.Get("connection_type")}
		iter := s.Iterator(nil)
		var prev float64
		var inc float64
		for iter.Next() != 0 {
			t, v := iter.At()
			if value.IsStaleNaN(v) {
				// The generator dropped the idle series; if it comes
				// back, it starts again from 0.
				prev = 0
				continue
			}
			if t < startMs {
				prev = v
				continue
			}
			if v >= prev {
				inc += v - prev
			} else {
				inc += v // reset
			}
			prev = v
		}
		if err := iter.Err(); err != nil {
			return nil, fmt.Errorf("read service graph series: %w", err)
		}
		out[key] += inc
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("query service graph: %w", err)
	}
	return out, nil
}
