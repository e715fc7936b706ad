package eventstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
)

func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 300; n += 7 {
		for _, shape := range []string{"random", "sorted", "reversed", "few values"} {
			a := make([]int64, n)
			for i := range a {
				switch shape {
				case "random":
					a[i] = r.Int64N(1000)
				case "sorted":
					a[i] = int64(i)
				case "reversed":
					a[i] = int64(n - i)
				default:
					a[i] = r.Int64N(3)
				}
			}
			want := slices.Clone(a)
			slices.Sort(want)
			for k := range n {
				if got := nthSmallest(slices.Clone(a), k); got != want[k] {
					t.Fatalf("%s n=%d k=%d: got %d, want %d", shape, n, k, got, want[k])
				}
			}
		}
	}
}

// Pages of a limited query are exactly the rows of the unlimited query in
// the same order, whatever the limit, direction and filter, over rows in
// parts and in the head with many equal timestamps. (A limited query
// orders only the first rows of each candidate.)
func TestLimitedPagesMatchFullOrder(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	ctx := context.Background()
	for batch := range 4 {
		rows := genRows(500, batch*500)
		for i := range rows {
			// Ties within and across streams, batches overlapping in time.
			rows[i].Time = baseTime.Add(time.Duration((i+batch*150)/6) * time.Millisecond).UnixNano()
		}
		if err := s.Append(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if batch < 3 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := func(e *model.Event) string { return fmt.Sprintf("%d/%s", e.Time, e.Body) }
	for _, dir := range []Direction{Backward, Forward} {
		for _, filters := range [][]Filter{nil, {{Field: model.FieldSeverity, Op: OpEqual, Value: "warn"}}} {
			base := Query{Tenant: "t1", Direction: dir, Filters: filters}
			var full []string
			if _, err := s.Query(ctx, base, func(e *model.Event) bool { full = append(full, key(e)); return true }); err != nil {
				t.Fatal(err)
			}
			if len(full) == 0 {
				t.Fatal("no rows")
			}
			limits := []int{7, 100, 999}
			if filters != nil {
				limits = []int{1, 7, 100}
			}
			for _, limit := range limits {
				var paged []string
				cursor := ""
				for pages := 0; ; pages++ {
					q := base
					q.Limit, q.Cursor = limit, cursor
					res, err := s.Query(ctx, q, func(e *model.Event) bool { paged = append(paged, key(e)); return true })
					if err != nil {
						t.Fatal(err)
					}
					if cursor = res.Cursor; cursor == "" || pages > len(full) {
						break
					}
				}
				if !slices.Equal(paged, full) {
					t.Fatalf("dir %d, filters %v, limit %d: paged %d rows differ from the %d of the full query",
						dir, filters, limit, len(paged), len(full))
				}
			}
		}
	}
}

// Blocks without a matching row give their decompressed columns back for
// the next block to reuse. Rows a caller kept from blocks that did match
// must not change when later searches reuse those buffers.
func TestKeptRowsSurviveBufferReuse(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	ctx := context.Background()
	rows := genRows(60000, 0)
	want := map[string]bool{}
	for i := range rows {
		// Only every 20000th row's block holds the word, so most blocks
		// read have no match.
		if i%20000 == 7 {
			rows[i].Body += " needle=kept"
			want[rows[i].Body] = true
		}
	}
	for i := 0; i < len(rows); i += 10000 {
		if err := s.Append(ctx, rows[i:i+10000]); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	kept := queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Op: OpSubstring, Value: "=kept"}}})
	// Field values are counted by their text, which aliases block memory.
	vals, _, err := s.FieldValues(ctx, Query{Tenant: "t1", Filters: []Filter{{Op: OpRegex, Value: `needle=k.pt`}}}, model.FieldBody, 100)
	if err != nil {
		t.Fatal(err)
	}
	var scanned []string
	for _, v := range vals {
		scanned = append(scanned, v.Value)
	}
	// Churn the pool: searches that read every block and match nothing.
	for range 3 {
		if n := len(queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Op: OpRegex, Value: `user=u9\d\d`}}})); n != 0 {
			t.Fatalf("%d rows matched a regex matching none", n)
		}
	}
	if len(kept) != len(want) || len(scanned) != len(want) {
		t.Fatalf("found %d and %d rows, want %d", len(kept), len(scanned), len(want))
	}
	for i := range kept {
		if !want[kept[i].Body] || !want[scanned[i]] {
			t.Fatalf("kept row changed after buffer reuse: %q / %q", kept[i].Body, scanned[i])
		}
	}
}
