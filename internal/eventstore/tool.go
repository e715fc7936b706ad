package eventstore

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/sightline/sightline/internal/eventstore/wal"
	"github.com/sightline/sightline/internal/model"
)

// Offline helpers for `sightline tool`; run them only on a data directory no
// Store has open.

// WALDir returns the WAL directory of a store's data directory.
func WALDir(dataDir string) string { return filepath.Join(dataDir, "wal") }

// DumpWAL writes a listing of the WAL of dataDir to w: one line per segment
// and, with rows, each record's rows as JSON lines. Scanning stops at the
// first corruption, which the report and the listing describe.
func DumpWAL(dataDir string, w io.Writer, rows bool) (*wal.Report, error) {
	res := mapResolver{}
	var fn wal.RecordFunc
	if rows {
		enc := json.NewEncoder(w)
		fn = func(seg int, seq uint64, p []byte) error {
			evs, _, err := decodeBatch(p, res)
			if err != nil {
				fmt.Fprintf(w, "segment %d record %d: undecodable rows: %v\n", seg, seq, err)
				return nil
			}
			for i := range evs {
				if err := enc.Encode(dumpRow{Seq: seq, Event: rowJSON(&evs[i])}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	rep, err := wal.Inspect(WALDir(dataDir), fn)
	if rep != nil {
		for _, s := range rep.Segments {
			state := "ok"
			if s.Corruption != "" {
				state = "CORRUPT at offset " + fmt.Sprint(s.GoodBytes) + ": " + s.Corruption
				if s.TornTail {
					state = "torn tail at offset " + fmt.Sprint(s.GoodBytes) + " (truncated automatically on open): " + s.Corruption
				}
			}
			fmt.Fprintf(w, "segment %08d  %10d bytes  %7d records  seq %d..%d  %s\n", s.Index, s.Bytes, s.Records, s.FirstSeq, s.LastSeq, state)
		}
	}
	return rep, err
}

// RepairWAL truncates the WAL of dataDir at its first corruption (dropping
// every later record) so the store can open.
func RepairWAL(dataDir string) (*wal.Report, error) { return wal.Repair(WALDir(dataDir)) }

type dumpRow struct {
	Seq   uint64         `json:"seq"`
	Event map[string]any `json:"event"`
}

func rowJSON(e *model.Event) map[string]any {
	m := map[string]any{"tenant": e.Tenant, "signal": e.Signal.String(), "stream": e.Stream.String(), model.FieldTime: e.Time}
	for _, f := range []string{model.FieldBody, model.FieldSeverity, model.FieldTraceID, model.FieldSpanID, model.FieldParentSpanID,
		model.FieldName, model.FieldKind, model.FieldStatusCode, model.FieldStatusMessage, model.FieldDuration} {
		if v, ok := e.Field(f); ok {
			m[f] = v.Text()
		}
	}
	for _, a := range e.Attrs {
		m[a.Key] = a.Value.Text()
	}
	return m
}

// mapResolver resolves stream keys without a Store (for offline tools).
type mapResolver map[string]*stream

func (m mapResolver) resolve(key []byte) (*stream, error) {
	if st := m[string(key)]; st != nil {
		return st, nil
	}
	st, err := parseStreamKey(key)
	if err != nil {
		return nil, err
	}
	m[st.key] = st
	return st, nil
}

// ColumnStat sums one column's storage over all parts.
type ColumnStat struct {
	Name       string
	Blocks     int   // blocks holding the column
	Rows       int64 // rows with a value
	DataBytes  int64 // stored (compressed) data bytes
	RawBytes   int64 // encoded bytes before zstd
	BloomBytes int64
	HeaderOnly int // blocks where the column lives in the header (const / all-present)
	Dict       int // blocks using a dictionary
	// PlainRawBytes is RawBytes of the blocks storing the column as plain
	// strings: the text a filter without a usable index reads row by row.
	PlainRawBytes int64
}

// ColumnStats reports where the parts' bytes go, per column, largest first.
func (s *Store) ColumnStats() []ColumnStat {
	sn, err := s.snapshot()
	if err != nil {
		return nil
	}
	defer sn.release()
	m := map[string]*ColumnStat{}
	var hdr blockHeader
	for _, r := range sn.parts {
		for bi := range r.p.idx.blocks {
			bh := &hdr
			if err := r.p.idx.header(&r.p.idx.blocks[bi], bh); err != nil {
				continue // not counted; queries of the block report it
			}
			for ci := range bh.cols {
				c := &bh.cols[ci]
				cs := m[c.name]
				if cs == nil {
					cs = &ColumnStat{Name: c.name}
					m[c.name] = cs
				}
				cs.Blocks++
				cs.Rows += int64(c.present)
				cs.DataBytes += int64(c.dataLen)
				cs.RawBytes += int64(c.rawLen)
				cs.BloomBytes += int64(c.bloomLen)
				if c.dataLen == 0 {
					cs.HeaderOnly++
				}
				if c.enc == encDict {
					cs.Dict++
				}
				if c.typ == ctString && c.enc == encPlain {
					cs.PlainRawBytes += int64(c.rawLen)
				}
			}
		}
	}
	out := make([]ColumnStat, 0, len(m))
	for _, cs := range m {
		out = append(out, *cs)
	}
	slices.SortFunc(out, func(a, b ColumnStat) int { return cmpInt(b.DataBytes+b.BloomBytes, a.DataBytes+a.BloomBytes) })
	return out
}
