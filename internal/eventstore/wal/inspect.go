package wal

import (
	"fmt"
	"os"
)

// SegmentReport describes one segment as found on disk.
type SegmentReport struct {
	Index    int
	Path     string
	Bytes    int64
	Records  int
	FirstSeq uint64
	LastSeq  uint64
	// GoodBytes is the length of the valid prefix.
	GoodBytes int64
	// Corruption is empty for a clean segment.
	Corruption string
	// TornTail is true when the corruption is a torn tail that Open truncates
	// by itself.
	TornTail bool
}

// Report describes a WAL directory.
type Report struct {
	Dir      string
	Segments []SegmentReport
	// Repaired lists what Repair changed (empty for Inspect).
	Repaired []string
}

// RecordFunc receives each valid record during Inspect; nil skips decoding.
type RecordFunc func(segment int, seq uint64, payload []byte) error

// Inspect scans a WAL directory without changing it, calling fn (if not nil)
// for every valid record. Scanning stops at the first corruption, as replay
// would.
func Inspect(dir string, fn RecordFunc) (*Report, error) {
	idx, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{Dir: dir}
	var prev uint64
	for i, n := range idx {
		data, err := os.ReadFile(segmentPath(dir, n))
		if err != nil {
			return rep, fmt.Errorf("read wal segment: %w", err)
		}
		var cb ReplayFunc
		if fn != nil {
			cb = func(seq uint64, p []byte) error { return fn(n, seq, p) }
		}
		res := scanSegment(data, i == len(idx)-1, prev, cb)
		if res.cbErr != nil {
			return rep, fmt.Errorf("inspect wal segment %d: %w", n, res.cbErr)
		}
		rep.Segments = append(rep.Segments, SegmentReport{Index: n, Path: segmentPath(dir, n), Bytes: int64(len(data)),
			Records: res.records, FirstSeq: res.firstSeq, LastSeq: res.lastSeq, GoodBytes: res.end,
			Corruption: res.corrupt, TornTail: res.torn})
		if res.lastSeq > 0 {
			prev = res.lastSeq
		}
		if res.corrupt != "" {
			// Later segments are unreachable for replay; report them by size only.
			for _, m := range idx[i+1:] {
				st, err := os.Stat(segmentPath(dir, m))
				if err != nil {
					return rep, fmt.Errorf("stat wal segment: %w", err)
				}
				rep.Segments = append(rep.Segments, SegmentReport{Index: m, Path: segmentPath(dir, m), Bytes: st.Size(),
					Corruption: "after an earlier corruption"})
			}
			break
		}
	}
	return rep, nil
}

// Repair truncates the WAL at its first corruption and deletes every later
// segment, so that Open succeeds. Records after the corruption point are
// lost; the report says how many bytes were dropped.
func Repair(dir string) (*Report, error) {
	rep, err := Inspect(dir, nil)
	if err != nil {
		return rep, err
	}
	cut := false
	for _, s := range rep.Segments {
		switch {
		case cut:
			if err := os.Remove(s.Path); err != nil {
				return rep, fmt.Errorf("repair wal: %w", err)
			}
			rep.Repaired = append(rep.Repaired, fmt.Sprintf("removed segment %d (%d bytes)", s.Index, s.Bytes))
		case s.Corruption != "":
			cut = true
			if err := truncateSegment(dir, s.Index, s.GoodBytes); err != nil {
				return rep, fmt.Errorf("repair wal: %w", err)
			}
			rep.Repaired = append(rep.Repaired, fmt.Sprintf("truncated segment %d at offset %d (%d bytes dropped: %s)",
				s.Index, s.GoodBytes, s.Bytes-s.GoodBytes, s.Corruption))
		}
	}
	if cut {
		if err := syncDir(dir); err != nil {
			return rep, err
		}
	}
	return rep, nil
}
