package eventstore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkFlushedDiskBytes ingests generator log rows (300k, or
// EVENTSTORE_BENCH_DISK_ROWS) in batches of 1000 with default flushing,
// flushes, and reports the bytes per row of the whole data directory
// ("dir-B/row"), of its parts ("parts-B/row") and of its WAL ("wal-B/row"):
// after a flush covering every row the WAL should hold only empty segments.
func BenchmarkFlushedDiskBytes(b *testing.B) {
	n := 300_000
	if v, err := strconv.Atoi(os.Getenv("EVENTSTORE_BENCH_DISK_ROWS")); err == nil && v >= 1000 {
		n = v / 1000 * 1000
	}
	rows := benchLogRows(n)
	o := benchOpts()
	d := DefaultOptions()
	o.FlushBytes, o.MaxHeadBytes, o.FlushInterval = d.FlushBytes, d.MaxHeadBytes, d.FlushInterval
	for range b.N {
		dir := filepath.Join(b.TempDir(), "store")
		s, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(rows); i += 1000 {
			for {
				err := s.Append(context.Background(), rows[i:i+1000])
				if err == nil {
					break
				}
				if err != ErrOverloaded {
					b.Fatal(err)
				}
				s.Flush()
			}
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		st := s.Stats()
		all := treeSize(b, dir)
		wal := treeSize(b, WALDir(dir))
		b.ReportMetric(float64(all)/float64(n), "dir-B/row")
		b.ReportMetric(float64(st.DiskBytes)/float64(n), "parts-B/row")
		b.ReportMetric(float64(wal)/float64(n), "wal-B/row")
		s.Close()
	}
}
