// Command eventbench measures the event store against the targets T1–T12
// of the storage design (those measurable without a peer) on generated data
// and prints one line per target. Usage:
//
//	go run ./bench/cmd/eventbench -logs 1000000 -spans 600000 -dir /tmp/eb
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/bench/scenario"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
)

func main() {
	logs := flag.Int("logs", 1_000_000, "log records to ingest")
	spans := flag.Int("spans", 600_000, "spans to ingest")
	streams := flag.Int("streams", 200_000, "distinct streams for the RAM-per-stream figure")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "concurrent appenders")
	batch := flag.Int("batch", 1000, "rows per Append")
	colStats := flag.Bool("columns", false, "print where the log part's bytes go, per column")
	dir := flag.String("dir", "", "work directory (default a temporary one, removed at exit)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "eventbench")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx := context.Background()
	rows := [][3]string{}
	add := func(id, what, val string) {
		rows = append(rows, [3]string{id, what, val})
		fmt.Printf("%-4s %-62s %s\n", id, what, val)
	}
	fmt.Printf("eventbench: %d logs, %d spans, GOMAXPROCS=%d, %s\n", *logs, *spans, runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))

	// ---- logs: T1, T3, T5, T6, T9, T12, T11
	ldir := filepath.Join(*dir, "logs")
	s, err := eventstore.Open(ldir, scenario.Options())
	check(err)
	r, err := scenario.IngestLogs(ctx, s, 1, *logs, *workers, *batch)
	check(err)
	add("T1", "log ingest, parse+WAL(fsync, group commit)+head+parts", fmt.Sprintf("%.0f lines/s per CPU-second (%.0f lines/s wall, %d lines, %.0f B avg)",
		float64(r.Rows)/r.CPU.Seconds(), float64(r.Rows)/r.Wall.Seconds(), r.Rows, float64(r.RawBytes)/float64(r.Rows)))
	add("T3", "disk per log line (data+blooms+indexes, after merge)", fmt.Sprintf("%.1f B/line (%d parts, %.1f MB for %.1f MB raw, ratio %.1fx)",
		float64(r.Stats.DiskBytes)/float64(r.Rows), r.Stats.Parts, mb(r.Stats.DiskBytes), mb(r.RawBytes), float64(r.RawBytes)/float64(r.Stats.DiskBytes)))
	add("T5", "index share (index+bloom+trace dir / part bytes), logs", fmt.Sprintf("%.1f%%", 100*float64(r.Stats.IndexBytes)/float64(r.Stats.DiskBytes)))
	if *colStats {
		for _, c := range s.ColumnStats() {
			fmt.Printf("     column %-24s data %6.2f B/row (raw %6.2f) bloom %5.2f B/row  blocks %d dict %d header-only %d\n", c.Name,
				float64(c.DataBytes)/float64(r.Rows), float64(c.RawBytes)/float64(r.Rows), float64(c.BloomBytes)/float64(r.Rows), c.Blocks, c.Dict, c.HeaderOnly)
		}
	}

	g := gen.New(1, scenario.Start, scenario.Step)
	perWorker := *logs / *workers
	for _, nd := range gen.Needles {
		want := 0
		for w := range *workers {
			want += gen.NeedleCount(nd, perWorker, gen.New(1+uint64(w), scenario.Start, scenario.Step))
		}
		if want > 1000 {
			continue
		}
		q := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpPhrase, Value: nd.Word}}}
		var got int
		var st eventstore.QueryStats
		d, dc, err := scenario.MedianCPU(5, func() error { var err error; got, st, err = scenario.Count(ctx, s, q); return err })
		check(err)
		add("T6", fmt.Sprintf("needle word %q (%d hits), median of 5", nd.Word, want),
			fmt.Sprintf("%s wall, %s CPU (got %d; blocks read %d of %d, bloom-skipped %d)", d.Round(time.Microsecond), dc.Round(time.Microsecond), got, st.BlocksRead, st.BlocksTotal, st.BlocksBloom))
		qs := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpSubstring, Value: "note=" + nd.Word}}}
		d, dc, err = scenario.MedianCPU(3, func() error { var err error; got, st, err = scenario.Count(ctx, s, qs); return err })
		check(err)
		add("T6s", fmt.Sprintf("needle substring \"note=%s\" (LogQL |=), median of 3", nd.Word),
			fmt.Sprintf("%s wall, %s CPU (got %d; blocks read %d of %d)", d.Round(time.Microsecond), dc.Round(time.Microsecond), got, st.BlocksRead, st.BlocksTotal))
	}
	_ = g
	// Error count per service over the whole range, in-engine.
	hq := eventstore.HitsQuery{Query: eventstore.Query{Tenant: "bench", Start: scenario.Start.UnixNano(), End: time.Now().UnixNano(),
		Filters: []eventstore.Filter{{Field: model.FieldSeverity, Op: eventstore.OpEqual, Value: "error"}}}, Step: int64(time.Minute), GroupBy: "service"}
	d, dc, err := scenario.MedianCPU(5, func() error { _, err := s.Hits(ctx, hq); return err })
	check(err)
	add("--", "error count per service per minute (Hits), median of 5", fmt.Sprintf("%s wall, %s CPU", d.Round(time.Microsecond), dc.Round(time.Microsecond)))

	// T12: regex that matches nothing, so every body is scanned.
	q := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpRegex, Value: `timeout after \d+ms for sku-9{6}`}}}
	var st eventstore.QueryStats
	d, dc, err = scenario.MedianCPU(3, func() error { var err error; _, st, err = scenario.Count(ctx, s, q); return err })
	check(err)
	var plain int64
	for _, c := range s.ColumnStats() {
		if c.Name == model.FieldBody {
			plain = c.PlainRawBytes
		}
	}
	add("T12", "unindexed regex scan of bodies, median of 3", fmt.Sprintf("%.2f GB/s of plain-encoded body text per CPU-second (%.2f GB/s of all body text, %.2f GB/s of raw records; %.2f GB/s wall; %d rows scanned, the rest pruned by dictionaries)",
		float64(plain)/dc.Seconds()/1e9, float64(r.BodyBytes)/dc.Seconds()/1e9, float64(r.RawBytes)/dc.Seconds()/1e9, float64(r.BodyBytes)/d.Seconds()/1e9, st.RowsScanned))
	// The same scan for a case-insensitive regexp.
	qi := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpRegex, Value: `(?i)TIMEOUT after \d+ms for SKU-9{6}`}}}
	_, dc, err = scenario.MedianCPU(3, func() error { _, _, err := scenario.Count(ctx, s, qi); return err })
	check(err)
	add("T12i", "case-insensitive regex scan of bodies, median of 3", fmt.Sprintf("%.2f GB/s of plain-encoded body text per CPU-second", float64(plain)/dc.Seconds()/1e9))

	// T9: ingest → queryable.
	tok := "visible" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t0 := time.Now()
	check(s.Append(ctx, []model.Event{{Tenant: "bench", Signal: model.SignalLog, Stream: labels.FromStrings("service", "probe"),
		Time: time.Now().UnixNano(), Body: "probe " + tok}}))
	for {
		n, _, err := scenario.Count(ctx, s, eventstore.Query{Tenant: "bench", Limit: 1, Start: time.Now().Add(-time.Minute).UnixNano(),
			Filters: []eventstore.Filter{{Op: eventstore.OpPhrase, Value: tok}}})
		check(err)
		if n == 1 {
			break
		}
	}
	add("T9", "append (fsynced) → visible to a query", time.Since(t0).Round(time.Microsecond).String())

	// T11: WAL replay from a crash image holding unflushed rows.
	wdir := filepath.Join(*dir, "walsrc")
	o := scenario.Options()
	o.FlushInterval, o.FlushBytes, o.MaxHeadBytes = time.Hour, 2<<30, 4<<30
	ws, err := eventstore.Open(wdir, o)
	check(err)
	nrep := min(*logs, 500_000)
	gr := gen.New(9, scenario.Start, scenario.Step)
	p := gen.NewParser()
	buf := make([]model.Event, 1000)
	for done := 0; done < nrep; done += len(buf) {
		p.Reset()
		for i := range buf {
			check(p.Parse(gr.Next(), &buf[i]))
		}
		check(ws.Append(ctx, buf))
	}
	img := filepath.Join(*dir, "walimg")
	check(scenario.CopyDir(img, wdir))
	check(ws.Close())
	walBytes := scenario.DirSize(eventstore.WALDir(img))
	cpu0 := scenario.CPUTime()
	t0 = time.Now()
	rs, err := eventstore.Open(img, o)
	check(err)
	el, cpu := time.Since(t0), scenario.CPUTime()-cpu0
	add("T11", "WAL replay on open", fmt.Sprintf("%.0f MB/s wall, %.0f MB/s per CPU-second (%.0f MB, %d rows)",
		mb(walBytes)/el.Seconds(), mb(walBytes)/cpu.Seconds(), mb(walBytes), rs.Stats().HeadRows))
	rs.Close()
	os.RemoveAll(img)
	os.RemoveAll(wdir)
	check(s.Close())

	// ---- spans: T2, T4, T5, T7
	sdir := filepath.Join(*dir, "spans")
	ss, err := eventstore.Open(sdir, scenario.Options())
	check(err)
	sr, err := scenario.IngestSpans(ctx, ss, 2, *spans, *workers, *batch)
	check(err)
	add("T2", "span ingest (engine only: WAL+head+parts, no OTLP decode)", fmt.Sprintf("%.0f spans/s per CPU-second (%.0f spans/s wall)",
		float64(sr.Rows)/sr.CPU.Seconds(), float64(sr.Rows)/sr.Wall.Seconds()))
	add("T4", "disk per span", fmt.Sprintf("%.1f B/span (≈%.0f B OTLP estimate per span)",
		float64(sr.Stats.DiskBytes)/float64(sr.Rows), float64(sr.RawBytes)/float64(sr.Rows)))
	add("T5", "index share, spans", fmt.Sprintf("%.1f%%", 100*float64(sr.Stats.IndexBytes)/float64(sr.Stats.DiskBytes)))
	var tst eventstore.QueryStats
	k := uint64(0)
	d, dc, err = scenario.MedianCPU(21, func() error {
		id := gen.TraceIDOf(2, k*7919%uint64(*spans/6))
		k++
		evs, st, err := ss.TraceByID(ctx, "bench", model.TraceID(id), 0, 0)
		if err == nil && len(evs) != 6 {
			err = fmt.Errorf("trace has %d spans, want 6", len(evs))
		}
		tst = st
		return err
	})
	check(err)
	add("T7", fmt.Sprintf("trace by id at %d spans, warm, median of 21", sr.Rows), fmt.Sprintf("%s wall, %s CPU (blocks read %d)", d.Round(time.Microsecond), dc.Round(time.Microsecond), tst.BlocksRead))
	check(ss.Close())

	// ---- T8: memory per active stream.
	mdir := filepath.Join(*dir, "streams")
	mo := scenario.Options()
	mo.FlushInterval = time.Hour
	mo.FlushBytes, mo.MaxHeadBytes = 2<<30, 4<<30
	ms, err := eventstore.Open(mdir, mo)
	check(err)
	before := scenario.HeapInUse()
	now := time.Now().UnixNano()
	for i := 0; i < *streams; i += 1000 {
		b := make([]model.Event, 1000)
		for j := range b {
			b[j] = model.Event{Tenant: "bench", Signal: model.SignalLog, Time: now,
				Stream: labels.FromStrings("namespace", "ns"+strconv.Itoa((i+j)%100), "service", "svc-"+strconv.Itoa(i+j), "env", "prod"),
				Body:   "x"}
		}
		check(ms.Append(ctx, b))
	}
	after := scenario.HeapInUse()
	add("T8", fmt.Sprintf("RAM per 1M active streams (measured with %d, one row each)", *streams),
		fmt.Sprintf("%.0f MB", float64(after-before)/float64(*streams)*1e6/1e6))
	check(ms.Flush())
	heldAfterFlush := scenario.HeapInUse()
	add("T8", "… after flushing them to a part (stream registry + part index)", fmt.Sprintf("%.0f MB", float64(heldAfterFlush-before)/float64(*streams)*1e6/1e6))
	check(ms.Close())
	add("T10", "durability under kill -9", "see: go test ./internal/eventstore -run TestCrashRecovery -v")
	_ = rows
}

func mb(b int64) float64 { return float64(b) / 1e6 }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
