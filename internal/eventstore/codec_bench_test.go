package eventstore

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/labels"
)

// BenchmarkBodyCodec compresses the bodies of 200k generator log rows in
// blocks as a flush cuts them (per stream, up to maxBlockRows rows or
// maxBlockBytes) with zstd at the levels this store could use and with S2,
// and reports each codec's bytes per row and decompression speed
// ("MB/cpu-s" of raw body text). It is the evidence for T12: an unindexed
// scan decompresses every body, so the codec's decode speed bounds it.
func BenchmarkBodyCodec(b *testing.B) {
	rows := benchLogRows(200_000)
	per := map[string][]byte{}
	counts := map[string]int{}
	var blocks [][]byte
	var raw int64
	for i := range rows {
		k := labels.StableHash(rows[i].Stream)
		key := fmt.Sprint(k)
		per[key] = append(per[key], rows[i].Body...)
		counts[key]++
		raw += int64(len(rows[i].Body))
		if counts[key] == maxBlockRows || len(per[key]) >= maxBlockBytes {
			blocks = append(blocks, per[key])
			per[key], counts[key] = nil, 0
		}
	}
	for _, blk := range per {
		if len(blk) > 0 {
			blocks = append(blocks, blk)
		}
	}
	type codec struct {
		name   string
		encode func([]byte) []byte
		decode func(dst, src []byte) ([]byte, error)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	var codecs []codec
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1))
		if err != nil {
			b.Fatal(err)
		}
		codecs = append(codecs, codec{"zstd-" + lvl.String(), func(p []byte) []byte { return enc.EncodeAll(p, nil) },
			func(dst, src []byte) ([]byte, error) { return dec.DecodeAll(src, dst[:0]) }})
	}
	codecs = append(codecs,
		codec{"s2", func(p []byte) []byte { return s2.Encode(nil, p) }, func(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }},
		codec{"s2-best", func(p []byte) []byte { return s2.EncodeBest(nil, p) }, func(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }})
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			var comp [][]byte
			var stored int64
			for _, blk := range blocks {
				z := c.encode(blk)
				comp = append(comp, z)
				stored += int64(len(z))
			}
			out := make([]byte, 0, 2*maxBlockBytes)
			m := startCPU(b)
			for range b.N {
				for i, z := range comp {
					got, err := c.decode(out, z)
					if err != nil || len(got) != len(blocks[i]) {
						b.Fatalf("decode block %d: %d bytes, %v", i, len(got), err)
					}
				}
			}
			m.report(raw)
			b.ReportMetric(float64(stored)/float64(len(rows)), "B/row")
		})
	}
}
