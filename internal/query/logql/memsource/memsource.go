// Package memsource is an in-memory logql.Source for tests and small
// embedded uses. It honours every field of logql.SelectParams, including the
// line-filter hints and Limit, so conformance tests exercise the same
// contract a store adapter must meet. Source is safe for concurrent use.
package memsource

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
)

type row struct {
	tenant string
	seq    int
	e      logql.Entry
}

// Source holds entries in memory.
type Source struct {
	mu      sync.Mutex
	rows    []row                // guarded by mu
	selects []logql.SelectParams // guarded by mu; every Select call, in order
}

// New returns an empty source.
func New() *Source { return &Source{} }

// Add stores one entry for tenant.
func (s *Source) Add(tenant string, e logql.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, row{tenant: tenant, seq: len(s.rows), e: e})
}

// Selects returns the parameters of every Select call so far.
func (s *Source) Selects() []logql.SelectParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logql.SelectParams(nil), s.selects...)
}

// Select returns the matching entries ordered by p.Direction.
func (s *Source) Select(ctx context.Context, p logql.SelectParams) (logql.Iterator, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lm, err := logql.NewLineMatcher(p.LineFilters)
	if err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	s.mu.Lock()
	s.selects = append(s.selects, p)
	var out []row
	for _, r := range s.rows {
		if r.tenant != p.Tenant || r.e.Timestamp < p.Start || r.e.Timestamp >= p.End {
			continue
		}
		if !matches(p.Matchers, r.e.Labels) || !lm.Match(r.e.Line) || !logql.MatchEntryLabels(p.LabelFilters, r.e.Labels, r.e.Metadata) {
			continue
		}
		out = append(out, r)
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.e.Timestamp != b.e.Timestamp {
			if p.Direction == logql.Forward {
				return a.e.Timestamp < b.e.Timestamp
			}
			return a.e.Timestamp > b.e.Timestamp
		}
		return a.seq < b.seq
	})
	if p.Limit > 0 && len(out) > p.Limit {
		out = out[:p.Limit]
	}
	return &iter{rows: out, i: -1}, nil
}

func matches(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

type iter struct {
	rows []row
	i    int
}

func (it *iter) Next() bool      { it.i++; return it.i < len(it.rows) }
func (it *iter) At() logql.Entry { return it.rows[it.i].e }
func (it *iter) Err() error      { return nil }
func (it *iter) Close() error    { return nil }

// Ordered reports that entries come in the requested direction.
func (it *iter) Ordered() bool { return true }
