package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// plannerData writes 6 streams × 20,000 rows (3 blocks each) to parts. One
// row holds the needle and one block the only "fatal" severity.
func plannerData(t *testing.T) (*Store, []model.Event) {
	s := openTest(t, t.TempDir(), testOpts())
	var rows []model.Event
	for sv := range 6 {
		for i := range 20000 {
			e := model.Event{Tenant: "t1", Signal: model.SignalLog,
				Stream:   labels.FromStrings("service", fmt.Sprintf("svc%d", sv)),
				Time:     baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(),
				Body:     fmt.Sprintf("ordinary line %d for request r%d", i, i*7+sv),
				Severity: "info",
				Attrs:    []model.Attr{{Key: "code", Value: model.IntValue(int64(200 + i%3))}},
			}
			if sv == 4 && i == 12345 {
				e.Body += " needle=zymurgy"
				e.Severity = "fatal"
				e.Attrs[0].Value = model.IntValue(999)
			}
			rows = append(rows, e)
		}
	}
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return s, rows
}

func TestPlannerSkipsBlocks(t *testing.T) {
	s, _ := plannerData(t)
	defer s.Close()
	run := func(q Query) (int, QueryStats) {
		n := 0
		res, err := s.Query(context.Background(), q, func(*model.Event) bool { n++; return true })
		if err != nil {
			t.Fatal(err)
		}
		return n, res.Stats
	}
	q := Query{Tenant: "t1"}
	n, st := run(q)
	// 6 streams × 20,000 rows in blocks of equal size (≥ 3 per stream).
	per := st.BlocksTotal / 6
	if n != 120000 || per < 3 || st.BlocksTotal != 6*per || st.BlocksRead != st.BlocksTotal {
		t.Fatalf("full scan: %d rows, stats %+v", n, st)
	}
	all := 6 * per
	tests := []struct {
		name      string
		q         Query
		rows      int
		maxRead   int
		minBloom  int
		minPruned int
		total     int
	}{
		{"needle via bloom", Query{Tenant: "t1", Filters: []Filter{{Op: OpPhrase, Value: "zymurgy"}}}, 1, 2, all - 2, 0, all},
		{"dictionary/const header", Query{Tenant: "t1", Filters: []Filter{{Field: model.FieldSeverity, Op: OpEqual, Value: "fatal"}}}, 1, 1, 0, all - 1, all},
		{"numeric min/max", Query{Tenant: "t1", Filters: []Filter{{Field: "code", Op: OpGT, Num: 500}}}, 1, 1, 0, all - 1, all},
		{"stream matcher", Query{Tenant: "t1", Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service", "svc2")}}, 20000, per, 0, 0, per},
		// The last second of 20 lies in each stream's last block.
		{"time range", Query{Tenant: "t1", Start: baseTime.Add(19 * time.Second).UnixNano(), End: baseTime.Add(20 * time.Second).UnixNano()}, 6000, 6, 0, all - 6, all},
		{"other tenant", Query{Tenant: "t2"}, 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, st := run(tc.q)
			if n != tc.rows {
				t.Fatalf("rows %d, want %d", n, tc.rows)
			}
			if st.BlocksRead > tc.maxRead || st.BlocksBloom < tc.minBloom || st.BlocksPruned < tc.minPruned || st.BlocksTotal != tc.total {
				t.Fatalf("stats %+v: want read ≤ %d, bloom-skipped ≥ %d, pruned ≥ %d, total %d", st, tc.maxRead, tc.minBloom, tc.minPruned, tc.total)
			}
		})
	}
	// A needle that exists nowhere reads (almost) nothing.
	_, st = run(Query{Tenant: "t1", Filters: []Filter{{Op: OpPhrase, Value: "quixotry"}}})
	if st.BlocksRead > 1 {
		t.Fatalf("absent needle read %d blocks", st.BlocksRead)
	}
	// Trace lookups read only the directory's blocks.
	s2 := openTest(t, t.TempDir(), testOpts())
	defer s2.Close()
	var spans []model.Event
	for i := range 50000 {
		spans = append(spans, model.Event{Tenant: "t1", Signal: model.SignalSpan, Stream: labels.FromStrings("service", "api"),
			Time: baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(), Name: "op",
			TraceID: model.TraceID{byte(i / 5 >> 16), byte(i / 5 >> 8), byte(i / 5), 7}, SpanID: model.SpanID{byte(i >> 8), byte(i), 1}})
	}
	if err := s2.Append(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	id := model.TraceID{0, byte(4321 >> 8), byte(4321 & 0xff), 7}
	tr, tst, err := s2.TraceByID(context.Background(), "t1", id, 0, 0)
	if err != nil || len(tr) != 5 {
		t.Fatalf("trace: %d spans, %v", len(tr), err)
	}
	if tst.BlocksRead != 1 {
		t.Fatalf("trace lookup read %d blocks of %d", tst.BlocksRead, len(spans)/maxBlockRows+1)
	}
}

func TestMergeKeepsRows(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, testOpts())
	rows := genRows(9000, 0)
	for i := 0; i < 9000; i += 3000 {
		if err := s.Append(context.Background(), rows[i:i+3000]); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Parts != 3 {
		t.Fatalf("parts %d before merge", st.Parts)
	}
	before := seqs(queryAll(t, s, Query{Tenant: "t1"}))
	merged, err := s.merge(2, true)
	if err != nil || !merged {
		t.Fatalf("merge: %v %v", merged, err)
	}
	if st := s.Stats(); st.Parts != 1 || st.Rows != 9000 {
		t.Fatalf("after merge %+v", st)
	}
	after := seqs(queryAll(t, s, Query{Tenant: "t1"}))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("rows changed by merge")
	}
	s.Close()
	ents, _ := os.ReadDir(filepath.Join(dir, "partitions", "20261120", "parts"))
	if len(ents) != 1 {
		t.Fatalf("%d part dirs after merge, want 1", len(ents))
	}
	s = openTest(t, dir, testOpts())
	defer s.Close()
	if got := len(queryAll(t, s, Query{Tenant: "t1"})); got != 9000 {
		t.Fatalf("after reopen %d", got)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	now := baseTime.Add(3 * 24 * time.Hour)
	var mu sync.Mutex
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.Retention = 10 * 24 * time.Hour
	s := openTest(t, dir, o)
	defer s.Close()
	for d := range 3 {
		rows := genRows(1000, 0)
		for i := range rows {
			rows[i].Time += int64(d) * nsPerDay
		}
		if err := s.Append(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Partitions != 3 {
		t.Fatalf("partitions %d", st.Partitions)
	}
	// Age: move the clock so the first day falls out of a 10-day window.
	mu.Lock()
	now = baseTime.Add(11*24*time.Hour + 5*time.Hour)
	mu.Unlock()
	if err := s.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Partitions != 2 || st.Rows != 2000 {
		t.Fatalf("after age retention %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "partitions", "20261120")); !os.IsNotExist(err) {
		t.Fatalf("expired partition dir still there: %v", err)
	}
	// Size: a budget below one partition keeps only the newest. Reopen with
	// it (the background loop reads the options, so they are not changed
	// on an open store).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o.MaxDiskBytes = 1
	s = openTest(t, dir, o)
	defer s.Close()
	if err := s.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Partitions != 1 || st.Rows != 1000 {
		t.Fatalf("after size retention %+v", st)
	}
	got := queryAll(t, s, Query{Tenant: "t1"})
	if len(got) != 1000 || dayOf(got[0].Time) != dayOf(baseTime.UnixNano())+2 {
		t.Fatalf("kept wrong partition: %d rows", len(got))
	}
}

// faultFS fails the n-th mutating operation (write, sync, rename, create).
type faultFS struct {
	osFS
	mu     sync.Mutex
	n, at  int
	failed bool
	kind   string // the operation that failed
}

var errInjected = errors.New("injected fault")

func (f *faultFS) step(kind string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.at > 0 && f.n == f.at {
		f.failed, f.kind = true, kind
		return errInjected
	}
	return nil
}

func (f *faultFS) Create(p string) (writableFile, error) {
	if err := f.step("create"); err != nil {
		return nil, err
	}
	w, err := f.osFS.Create(p)
	if err != nil {
		return nil, err
	}
	return &faultFile{w, f}, nil
}
func (f *faultFS) Rename(a, b string) error {
	if err := f.step("rename"); err != nil {
		return err
	}
	return f.osFS.Rename(a, b)
}
func (f *faultFS) SyncDir(p string) error {
	if err := f.step("syncdir:" + filepath.Base(p)); err != nil {
		return err
	}
	return f.osFS.SyncDir(p)
}

type faultFile struct {
	writableFile
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.step("write"); err != nil {
		return len(p) / 2, err // a short write
	}
	return f.writableFile.Write(p)
}
func (f *faultFile) Sync() error {
	if err := f.fs.step("sync"); err != nil {
		return err
	}
	return f.writableFile.Sync()
}

func TestFaultInjectionFlushAndMerge(t *testing.T) {
	for at := 1; ; at++ {
		dir := t.TempDir()
		fs := &faultFS{}
		o := testOpts()
		o.fs = fs
		s := openTest(t, dir, o)
		rows := genRows(3000, 0)
		for i := 0; i < 2000; i += 1000 {
			if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Append(context.Background(), rows[2000:]); err != nil {
			t.Fatal(err)
		}
		fs.mu.Lock()
		fs.n, fs.at = 0, at
		fs.mu.Unlock()
		ferr := s.Flush()
		merr := error(nil)
		if ferr == nil {
			_, merr = s.merge(2, true)
		}
		fs.mu.Lock()
		failed, kind := fs.failed, fs.kind
		fs.at = 0
		fs.mu.Unlock()
		// A failed directory sync after parts.json was renamed is logged, not
		// returned: the new manifest is already in effect.
		if failed && ferr == nil && merr == nil && kind != "syncdir:"+filepath.Base(dir) {
			t.Fatalf("fault %d swallowed", at)
		}
		check := func(stage string, s *Store) {
			got := seqs(queryAll(t, s, Query{Tenant: "t1"}))
			seen := map[int64]int{}
			for _, v := range got {
				seen[v]++
			}
			if len(got) != 3000 || len(seen) != 3000 {
				t.Fatalf("fault at op %d (%s): %d rows, %d distinct, want 3000 (flush err %v, merge err %v)", at, stage, len(got), len(seen), ferr, merr)
			}
		}
		check("after fault", s)
		if err := s.Close(); err != nil {
			t.Fatalf("close after fault %d: %v", at, err)
		}
		s2 := openTest(t, dir, testOpts())
		check("reopen", s2)
		s2.Close()
		if !failed {
			t.Logf("covered %d fault points in flush + merge", at-1)
			return
		}
	}
}

func TestStreamMatchers(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	var rows []model.Event
	for i := range 600 {
		ls := labels.FromStrings("service", []string{"api", "cart", "checkout"}[i%3])
		if i%4 != 0 {
			ls = labels.FromStrings("service", ls.Get("service"), "env", []string{"prod", "dev", "prod"}[i%4-1])
		}
		rows = append(rows, model.Event{Tenant: "t1", Signal: model.SignalLog, Stream: ls, Time: baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(), Body: "x"})
	}
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	m := func(typ labels.MatchType, n, v string) *labels.Matcher { return labels.MustNewMatcher(typ, n, v) }
	sets := [][]*labels.Matcher{
		{m(labels.MatchEqual, "service", "cart")},
		{m(labels.MatchNotEqual, "service", "cart")},
		{m(labels.MatchRegexp, "service", "c.*")},
		{m(labels.MatchNotRegexp, "service", "c.*")},
		{m(labels.MatchEqual, "env", "")},
		{m(labels.MatchEqual, "env", "prod"), m(labels.MatchRegexp, "service", "api|cart")},
		{m(labels.MatchRegexp, "env", "prod|"), m(labels.MatchNotEqual, "service", "api")},
		{m(labels.MatchEqual, "nosuch", "x")},
	}
	for phase := range 2 {
		if phase == 1 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		for i, ms := range sets {
			want := 0
			for _, r := range rows {
				ok := true
				for _, mm := range ms {
					ok = ok && mm.Matches(r.Stream.Get(mm.Name))
				}
				if ok {
					want++
				}
			}
			got := len(queryAll(t, s, Query{Tenant: "t1", Matchers: ms}))
			if got != want {
				t.Errorf("phase %d set %d %v: %d rows, want %d", phase, i, ms, got, want)
			}
		}
	}
}

func TestBackgroundMergePicksSimilarParts(t *testing.T) {
	o := testOpts()
	o.MergeMinParts = 100 // keep the background loop from merging first
	s := openTest(t, t.TempDir(), o)
	defer s.Close()
	sizes := []int{5000, 100, 120, 110, 4000}
	off := 0
	for _, n := range sizes {
		if err := s.Append(context.Background(), genRows(n, off)); err != nil {
			t.Fatal(err)
		}
		off += n
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := s.merge(3, false)
	if err != nil || !merged {
		t.Fatalf("merge: %v %v", merged, err)
	}
	var rows []int64
	for _, p := range s.man.Parts {
		rows = append(rows, p.Rows)
	}
	slices.Sort(rows)
	if !slices.Equal(rows, []int64{330, 4000, 5000}) {
		t.Fatalf("parts after merge %v, want the three small ones merged", rows)
	}
	// Similar big parts now: 330 is not within 2x of 4000, so only 4000+5000
	// could go, which is below the 3-part minimum.
	if merged, _ := s.merge(3, false); merged {
		t.Fatal("merged dissimilar parts")
	}
	if got := len(queryAll(t, s, Query{Tenant: "t1"})); got != off {
		t.Fatalf("%d rows after merges, want %d", got, off)
	}
}
