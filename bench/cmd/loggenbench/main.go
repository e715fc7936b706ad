// Command loggenbench ingests a file written by ../shared/bench/loggen into
// the event store with the data model the peers were measured with (the raw
// record as the message, stream label service, fields level, trace_id and
// span_id) and prints the figures of the peer table in storage.md: CPU
// seconds of the ingest, bytes on disk, a needle query, error counts per
// service over the data's hour, and one trace id's records.
//
//	loggen -n 5000000 -format mixed -start $(date -u -d '-2 hours' +%FT%TZ) -o /tmp/logs.txt -stats /tmp/stats.json
//	go run ./bench/cmd/loggenbench -in /tmp/logs.txt -stats /tmp/stats.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/bench/scenario"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
)

func main() {
	in := flag.String("in", "", "loggen output file")
	statsFile := flag.String("stats", "", "loggen -stats file (for sample trace ids)")
	dir := flag.String("dir", "", "store directory (default: temporary)")
	workers := flag.Int("workers", 8, "concurrent appenders")
	batch := flag.Int("batch", 1000, "records per Append")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the queries to this file")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "loggenbench")
		check(err)
		defer os.RemoveAll(d)
		*dir = d
	}
	o := scenario.Options()
	o.Retention = -1
	o.MaxFuture = 24 * time.Hour
	s, err := eventstore.Open(*dir, o)
	check(err)
	ctx := context.Background()

	// Read and split records up front, like logpush does, so the clock
	// measures the store.
	raw, err := os.ReadFile(*in)
	check(err)
	recs := splitRecords(raw)
	fmt.Printf("loggenbench: %d records, %.1f MB raw\n", len(recs), float64(len(raw))/1e6)
	batches := make(chan []model.Event, *workers)
	go func() {
		var p parser
		for i := 0; i < len(recs); i += *batch {
			b := make([]model.Event, 0, *batch)
			for _, r := range recs[i:min(i+*batch, len(recs))] {
				b = append(b, p.parse(r))
			}
			batches <- b
		}
		close(batches)
	}()
	cpu0, t0 := scenario.CPUTime(), time.Now()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for b := range batches {
				for {
					err := s.Append(ctx, b)
					if err == eventstore.ErrOverloaded {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					check(err)
					break
				}
			}
		})
	}
	wg.Wait()
	check(s.Flush())
	wall, cpu := time.Since(t0), scenario.CPUTime()-cpu0
	fmt.Printf("ingest: %.1f s wall, %.1f CPU-s including parsing (%.0f records per CPU-second, %.0f records/s wall)\n",
		wall.Seconds(), cpu.Seconds(), float64(len(recs))/cpu.Seconds(), float64(len(recs))/wall.Seconds())
	st := s.Stats()
	fmt.Printf("disk after flush: %.1f MB (%.1f B/record, %d parts)\n", float64(st.DiskBytes)/1e6, float64(st.DiskBytes)/float64(len(recs)), st.Parts)
	check(s.MergeAll())
	st = s.Stats()
	fmt.Printf("disk after merge: %.1f MB (%.1f B/record, index share %.1f%%, %d parts)\n",
		float64(st.DiskBytes)/1e6, float64(st.DiskBytes)/float64(len(recs)), 100*float64(st.IndexBytes)/float64(st.DiskBytes), st.Parts)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	for _, w := range []string{"zymurgy", "quixotry"} {
		q := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpPhrase, Value: w}}}
		var n int
		var qs eventstore.QueryStats
		d, dc, err := scenario.MedianCPU(5, func() error { var err error; n, qs, err = scenario.Count(ctx, s, q); return err })
		check(err)
		fmt.Printf("needle %q: %d hits, median of 5 %s wall, %s CPU (blocks read %d of %d)\n", w, n, d.Round(time.Microsecond), dc.Round(time.Microsecond), qs.BlocksRead, qs.BlocksTotal)
	}
	var minT, maxT int64 = 1<<63 - 1, 0
	for _, r := range recs[:1] {
		minT = parseTS(r)
	}
	maxT = parseTS(recs[len(recs)-1])
	hq := eventstore.HitsQuery{Query: eventstore.Query{Tenant: "bench", Start: minT, End: max(maxT+1, minT+int64(time.Hour)),
		Filters: []eventstore.Filter{{Field: model.FieldSeverity, Op: eventstore.OpEqual, Value: "error"}}}, Step: int64(time.Hour), GroupBy: "service"}
	var hr eventstore.HitsResult
	d, dc, err := scenario.MedianCPU(5, func() error { var err error; hr, err = s.Hits(ctx, hq); return err })
	check(err)
	fmt.Printf("error count per service over the hour: %d services, median of 5 %s wall, %s CPU\n", len(hr.Groups), d.Round(time.Microsecond), dc.Round(time.Microsecond))

	if *statsFile != "" {
		ids := sampleTraces(*statsFile)
		for _, id := range ids[:min(3, len(ids))] {
			tid, err := model.ParseTraceID(id.ID)
			check(err)
			var evs []model.Event
			var ts eventstore.QueryStats
			d, dc, err := scenario.MedianCPU(5, func() error { var err error; evs, ts, err = s.TraceByID(ctx, "bench", tid, 0, 0); return err })
			check(err)
			fmt.Printf("trace %s: %d records (loggen says %d), median of 5 %s wall, %s CPU (blocks read %d)\n", id.ID, len(evs), id.Count, d.Round(time.Microsecond), dc.Round(time.Microsecond), ts.BlocksRead)
		}
	}
	check(s.Close())
}

type traceSample struct {
	ID    string
	Count int
}

// sampleTraces reads sample trace ids with their record counts from a loggen
// stats file, whatever the exact field names (it looks for 32-hex strings
// mapped to numbers).
func sampleTraces(path string) []traceSample {
	b, err := os.ReadFile(path)
	check(err)
	var m any
	check(json.Unmarshal(b, &m))
	var out []traceSample
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if n, ok := val.(float64); ok && len(k) == 32 {
					if _, err := model.ParseTraceID(k); err == nil {
						out = append(out, traceSample{k, int(n)})
						continue
					}
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				if o, ok := e.(map[string]any); ok {
					id, _ := o["trace_id"].(string)
					n, _ := o["records"].(float64)
					if n == 0 {
						n, _ = o["count"].(float64)
					}
					if len(id) == 32 {
						out = append(out, traceSample{id, int(n)})
						continue
					}
				}
				walk(e)
			}
		}
	}
	walk(m)
	return out
}

// splitRecords cuts the file into records: a record's first line starts
// with '{', a digit or "ts="; other lines continue the previous record.
func splitRecords(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		end := len(b)
		if j >= 0 {
			end = i + j
		}
		line := b[i:end]
		if len(line) > 0 && (line[0] == '{' || line[0] >= '0' && line[0] <= '9' || bytes.HasPrefix(line, []byte("ts="))) {
			if start >= 0 {
				out = append(out, b[start:i-1])
			}
			start = i
		}
		i = end + 1
	}
	if start >= 0 {
		out = append(out, bytes.TrimRight(b[start:], "\n"))
	}
	return out
}

type parser struct {
	streams map[string]labels.Labels
	lastTS  int64
}

func between(b []byte, pre string, stop byte) []byte {
	i := bytes.Index(b, []byte(pre))
	if i < 0 {
		return nil
	}
	b = b[i+len(pre):]
	if j := bytes.IndexByte(b, stop); j >= 0 {
		return b[:j]
	}
	return b
}

func parseTS(r []byte) int64 {
	first := r
	if i := bytes.IndexByte(r, '\n'); i >= 0 {
		first = r[:i]
	}
	var s []byte
	layout := time.RFC3339Nano
	switch {
	case first[0] == '{':
		s = between(first, `"ts":"`, '"')
	case bytes.HasPrefix(first, []byte("ts=")):
		s = between(first, "ts=", ' ')
	case len(first) > 19 && first[4] == '-' && first[10] == 'T':
		s = first[:bytes.IndexByte(first, ' ')]
	case len(first) > 19 && first[4] == '/':
		s, layout = first[:19], "2006/01/02 15:04:05"
	default:
		ms := between(first, " msec=", ' ')
		f, err := strconv.ParseFloat(string(ms), 64)
		if err != nil {
			return 0
		}
		return int64(f * 1e9)
	}
	t, err := time.Parse(layout, string(s))
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

func (p *parser) parse(r []byte) model.Event {
	if p.streams == nil {
		p.streams = map[string]labels.Labels{}
	}
	first := r
	if i := bytes.IndexByte(r, '\n'); i >= 0 {
		first = r[:i]
	}
	var svc, lvl, trace, span []byte
	switch {
	case first[0] == '{':
		svc, lvl = between(first, `"service":"`, '"'), between(first, `"level":"`, '"')
		trace, span = between(first, `"trace_id":"`, '"'), between(first, `"span_id":"`, '"')
	case bytes.HasPrefix(first, []byte("ts=")):
		svc, lvl = between(first, " service=", ' '), between(first, " level=", ' ')
		trace, span = between(first, " trace_id=", ' '), between(first, " span_id=", ' ')
	case len(first) > 19 && first[4] == '-' && first[10] == 'T':
		rest := bytes.TrimLeft(first[bytes.IndexByte(first, ' '):], " ")
		lvl = bytes.ToLower(rest[:max(bytes.IndexByte(rest, ' '), 0)])
		svc = between(rest, "[", ']')
		if i := bytes.LastIndex(first, []byte("] [")); i >= 0 {
			ts := between(first[i:], "] [", ']')
			if d := bytes.IndexByte(ts, '-'); d > 0 {
				trace, span = ts[:d], ts[d+1:]
			}
		}
	case len(first) > 19 && first[4] == '/':
		svc, lvl = []byte("api-gateway"), []byte("warn")
		if bytes.Contains(first, []byte("[error]")) {
			lvl = []byte("error")
		}
	default:
		svc, trace = between(first, " service=", ' '), between(first, " trace_id=", ' ')
		lvl = []byte("info")
		if q := bytes.Index(first, []byte("HTTP/1.1\" ")); q >= 0 && len(first) > q+10 {
			switch first[q+10] {
			case '5':
				lvl = []byte("error")
			case '4':
				lvl = []byte("warn")
			}
		}
	}
	ts := parseTS(r)
	if ts == 0 {
		ts = p.lastTS
	}
	p.lastTS = ts
	ls, ok := p.streams[string(svc)]
	if !ok {
		ls = labels.FromStrings("service", string(svc))
		p.streams[string(svc)] = ls
	}
	e := model.Event{Tenant: "bench", Signal: model.SignalLog, Stream: ls, Time: ts, Body: string(r), Severity: string(lvl)}
	if id, err := model.ParseTraceID(string(trace)); err == nil {
		e.TraceID = id
	}
	if len(span) == 16 {
		if id, err := model.ParseSpanID(string(span)); err == nil {
			e.SpanID = id
		}
	}
	return e
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
