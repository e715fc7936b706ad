package eventstore

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// Every decoder of on-disk bytes must return an error on corrupt input,
// never panic.

func FuzzDecodeInts(f *testing.F) {
	enc, _ := encodeInts(nil, []int64{5, 7, 9, 1000, -3}, nil)
	f.Add(enc, 5)
	enc, _ = encodeInts(nil, []int64{1, 2, 3, 4}, nil)
	f.Add(enc, 4)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		decodeInts(nil, b, n)
	})
}

func FuzzDecodeStrings(f *testing.F) {
	enc, _, _ := encodeStrings(nil, []string{"a", "bc", ""}, nil, nil)
	f.Add(enc, 3)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		decodeStrings(nil, b, n)
		decodeHex(nil, b, n, 16)
	})
}

func FuzzBloom(f *testing.F) {
	f.Add(bloomBuild(nil, []uint64{1, 2, 3}), uint64(2))
	f.Fuzz(func(t *testing.T, b []byte, h uint64) {
		if bloomCheck(b) == nil {
			bloomHas(b, h)
		}
	})
}

// FuzzBlock decodes a block header and every column of it against a data
// blob, then materializes every row.
func FuzzBlock(f *testing.F) {
	sink := &memSink{}
	bb := blockBuilderPool.Get().(*blockBuilder)
	bh, err := bb.build(blockRows(40), 0, sink)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bh.marshal(nil), sink.data)
	f.Fuzz(func(t *testing.T, hdr, data []byte) {
		var bh blockHeader
		d := &decBuf{b: hdr}
		bh.unmarshal(d)
		if d.err != nil {
			return
		}
		// The raw decoders directly, past the checksums.
		for i := range bh.cols {
			c := &colData{h: &bh.cols[i]}
			c.decodeRaw(int(bh.rows), data)
		}
		lb := &loadedBlock{st: newStream("t", model.SignalLog, labels.EmptyLabels()), bh: &bh, buf: data, cols: make([]*colData, len(bh.cols))}
		for i := range bh.cols {
			if _, err := lb.col(i); err != nil {
				return
			}
		}
		lb.times = make([]int64, bh.rows)
		for r := range int(bh.rows) {
			if _, err := lb.event(r); err != nil {
				return
			}
		}
	})
}

func FuzzPartIndex(f *testing.F) {
	s, err := Open(f.TempDir(), testOpts())
	if err != nil {
		f.Fatal(err)
	}
	rows := genRows(300, 0)
	if err := s.Append(context.Background(), rows); err != nil {
		f.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		f.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(s.partDir(s.man.Parts[0]), fileIndex))
	if err != nil {
		f.Fatal(err)
	}
	s.Close()
	f.Add(idx)
	body, _ := zstdDec.DecodeAll(idx[len(indexMagic)+4:len(idx)-4], nil)
	f.Add(body)
	f.Fuzz(func(t *testing.T, b []byte) {
		unmarshalIndex(b, mapResolver{})
		pi, err := parseIndexBody(b, mapResolver{})
		if err != nil {
			return
		}
		// An accepted index unpacks every block to what index.bin holds.
		want, err := eagerHeaders(b)
		if err != nil || len(want) != len(pi.blocks) {
			t.Fatalf("accepted index: eager decode %v, %d blocks, packed %d", err, len(want), len(pi.blocks))
		}
		var got blockHeader
		for bi := range pi.blocks {
			if err := pi.header(&pi.blocks[bi], &got); err != nil {
				t.Fatalf("block %d of an accepted index: %v", bi, err)
			}
			got.stream = pi.blockStream(uint32(bi))
			if !sameHeader(got, want[bi]) {
				t.Fatalf("block %d unpacks to %+v, index has %+v", bi, got, want[bi])
			}
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	rows := genRows(3, 0)
	rows[0].Attrs = append(rows[0].Attrs, model.Attr{Key: "ok", Value: model.BoolValue(true)})
	f.Add(encodeBatch(nil, rows))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _, err := decodeBatch(b, mapResolver{})
		if err != nil {
			return
		}
		// What decodes must re-encode to the same bytes.
		if re := encodeBatch(nil, evs); string(re) != string(b) {
			// Non-canonical varints or flag bits may decode; they must still
			// give a batch that decodes identically.
			evs2, _, err := decodeBatch(re, mapResolver{})
			if err != nil || len(evs2) != len(evs) {
				t.Fatalf("re-encoded batch does not decode: %v", err)
			}
		}
	})
}

func FuzzTraceChunk(f *testing.F) {
	var buf []byte
	for _, e := range []traceEntry{{5, 0}, {5, 2}, {9, 1}} {
		buf = binary.AppendUvarint(buf, uint64(e.prefix))
		buf = binary.AppendUvarint(buf, uint64(e.block))
	}
	f.Add(buf, uint32(3), uint32(5))
	f.Fuzz(func(t *testing.T, b []byte, n, pre uint32) {
		if n > traceChunkLen {
			return
		}
		out, err := decodeTraceChunk(nil, b, traceChunk{n: n}, 4, pre)
		for _, blk := range out {
			if err == nil && blk >= 4 {
				t.Fatalf("block %d out of range accepted", blk)
			}
		}
	})
}
