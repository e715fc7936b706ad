package eventstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sightline/sightline/internal/model"
)

func TestMetricsAndWALCheckpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := testOpts()
	o.Registerer = reg
	o.WAL.SegmentSize = 64 << 10
	dir := t.TempDir()
	s := openTest(t, dir, o)
	defer s.Close()
	for i := range 20 {
		if err := s.Append(context.Background(), genRows(200, i*200)); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(s.m.rowsIngested); got != 4000 {
		t.Fatalf("rows ingested metric %v", got)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	walBefore := s.Stats().WALBytes
	if len(segs) < 3 {
		t.Fatalf("only %d wal segments", len(segs))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(after) != 1 || s.Stats().WALBytes >= walBefore {
		t.Fatalf("checkpoint kept %d of %d segments (%d → %d bytes)", len(after), len(segs), walBefore, s.Stats().WALBytes)
	}
	var res QueryResult
	var err error
	if res, err = s.Query(context.Background(), Query{Tenant: "t1", Filters: []Filter{{Op: OpPhrase, Value: "absentword"}}},
		func(*model.Event) bool { return true }); err != nil {
		t.Fatal(err)
	}
	// The skipped-blocks counters add up to what the query's stats say.
	if res.Stats.BlocksBloom == 0 {
		t.Fatalf("an absent word skipped no block by bloom: %+v", res.Stats)
	}
	skipped := testutil.ToFloat64(s.m.blocksSkipped.WithLabelValues("time")) + testutil.ToFloat64(s.m.blocksSkipped.WithLabelValues("header"))
	if bloom := testutil.ToFloat64(s.m.blocksSkipped.WithLabelValues("bloom")); bloom != float64(res.Stats.BlocksBloom) || skipped != float64(res.Stats.BlocksPruned) {
		t.Errorf("blocks skipped: bloom %v, time+header %v; query stats %+v", bloom, skipped, res.Stats)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"sightline_events_rows_ingested_total", "sightline_events_bytes_ingested_total",
		"sightline_events_parts", "sightline_events_wal_bytes", "sightline_events_head_bytes", "sightline_events_flushes_total",
		"sightline_events_bloom_checks_total", "sightline_events_query_duration_seconds", "sightline_events_blocks_read_total"} {
		if !have[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
	if got := testutil.ToFloat64(s.m.flushes); got != 1 {
		t.Errorf("flushes %v", got)
	}
}
