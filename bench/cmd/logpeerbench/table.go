package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// tableCmd prints result files side by side; the first is the reference
// (sightline) and every further column gets a "first/this" ratio.
func tableCmd(args []string, w io.Writer) error {
	if len(args) < 1 {
		return errors.New("table: need at least one result file")
	}
	var rs []Result
	for _, p := range args {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("decode result %s: %w", p, err)
		}
		rs = append(rs, r)
	}
	writeTable(w, rs)
	for _, r := range rs {
		for _, q := range r.Queries {
			if !q.Correct {
				return fmt.Errorf("table: %s answered %s wrongly (%v, want %v)", r.Target, q.Name, q.Got, q.Want)
			}
		}
	}
	return nil
}

type row struct {
	name   string
	better string // "higher" or "lower"
	format string
	val    func(r Result) (float64, bool)
}

func queryRow(name, label string, f func(q QueryResult) float64) row {
	return row{name: label, better: "lower", format: "%.1f", val: func(r Result) (float64, bool) {
		for _, q := range r.Queries {
			if q.Name == name {
				return f(q), q.Correct
			}
		}
		return math.NaN(), true // not measured
	}}
}

func rows() []row {
	perLine := func(v float64, r Result) float64 { return v / float64(r.Lines) }
	rs := []row{
		{"ingest lines per CPU-s (at last ack)", "higher", "%.0f", func(r Result) (float64, bool) { return float64(r.Lines) / r.IngestCPUS, true }},
		{"ingest lines per CPU-s (incl. flush/merges until idle)", "higher", "%.0f", func(r Result) (float64, bool) { return float64(r.Lines) / r.SettledCPUS, true }},
		{"ingest CPU-s (until idle)", "lower", "%.1f", func(r Result) (float64, bool) { return r.SettledCPUS, true }},
		{"ingest wall s", "lower", "%.1f", func(r Result) (float64, bool) { return r.IngestWallS, true }},
		{"disk bytes per line (allocated)", "lower", "%.1f", func(r Result) (float64, bool) { return perLine(float64(r.DiskBytes), r), true }},
		{"disk MB (allocated)", "lower", "%.1f", func(r Result) (float64, bool) { return float64(r.DiskBytes) / 1e6, true }},
	}
	for _, q := range []struct{ name, label string }{
		{"needle", "needle quixotry (word in VictoriaLogs)"},
		{"needle_rare", "needle zymurgy (word in VictoriaLogs)"},
		{"needle_substring", "needle quixotry as substring (LogQL \\|=, LogsQL ~)"},
		{"count_by_level", "count by level, 1m steps"},
		{"trace_id", "one trace id"},
	} {
		rs = append(rs,
			queryRow(q.name, q.label+": median ms (warm)", func(x QueryResult) float64 { return x.MedianMS }),
			queryRow(q.name, q.label+": first run ms", func(x QueryResult) float64 { return x.FirstMS }),
			queryRow(q.name, q.label+": server CPU ms per run", func(x QueryResult) float64 { return x.CPUMSPer }),
		)
	}
	return rs
}

// writeTable prints a Markdown table: one column per result, then one
// ratio column per peer (reference value / peer value; the "better" column
// says which way is good). A figure whose query answered wrongly is marked.
func writeTable(w io.Writer, rs []Result) {
	head := []string{"figure", "better"}
	for _, r := range rs {
		head = append(head, r.Target)
	}
	for _, r := range rs[1:] {
		head = append(head, rs[0].Target+"/"+r.Target)
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, rw := range rows() {
		cells := []string{rw.name, rw.better}
		vals := make([]float64, len(rs))
		for i, r := range rs {
			v, ok := rw.val(r)
			vals[i] = v
			c := fmt.Sprintf(rw.format, v)
			if math.IsNaN(v) {
				c = "–"
			}
			if !ok {
				c += " (WRONG)"
			}
			cells = append(cells, c)
		}
		for i := range rs[1:] {
			if vals[i+1] == 0 || math.IsNaN(vals[i+1]) || math.IsNaN(vals[0]) {
				cells = append(cells, "–")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.2f", vals[0]/vals[i+1]))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		fmt.Fprintf(w, "%s (%s): %d lines, %.1f MB raw, %d requests, flush: %s, disk by dir: %v\n",
			r.Target, r.Version, r.Lines, float64(r.RawBytes)/1e6, r.Requests, r.Flush, r.DiskByDir)
		for _, q := range r.Queries {
			fmt.Fprintf(w, "  %s: %s → %v (want %v)\n", q.Name, q.Text, q.Got, q.Want)
		}
	}
}
