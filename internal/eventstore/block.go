package eventstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/sightline/sightline/internal/model"
)

// A block holds rows of one stream sorted by time. Each field is a column
// with its own header (kept in the part index) and data blob (in data.bin).

type colType uint8

const (
	ctString colType = 1
	ctInt    colType = 2
	ctFloat  colType = 3
	ctBool   colType = 4
	ctID     colType = 5 // fixed-width binary ids: trace_id, span_id, parent_span_id
)

type colEnc uint8

const (
	encConst   colEnc = 1 // one value for every present row, kept in the header
	encDict    colEnc = 2 // ≤ 255 distinct strings in the header; data: one byte per row
	encPlain   colEnc = 3 // strings: packed lengths + bytes; floats/ids: raw
	encHex     colEnc = 4 // lowercase hex strings of one length, stored as binary
	encPacked  colEnc = 5 // ints: frame-of-reference or delta bit packing; bools: bitmap
	encDecimal colEnc = 6 // floats: decimal exponent + packed ints (v = m / 10^e)
)

const (
	maxDictValues = 255
	maxDictBytes  = 4096
	maxBlockRows  = 8192
	maxBlockBytes = 1 << 20
	maxColumnRaw  = 256 << 20
	flagZstd      = 1
)

type columnHeader struct {
	name    string
	typ     colType
	enc     colEnc
	width   uint8  // id width / hex byte width
	flags   uint8  // flagZstd
	present uint32 // rows holding a value
	// minV/maxV: ints as int64, floats as float64 bits, bools 0/1.
	minV, maxV int64
	constStr   string
	dict       []string
	dataOff    uint64
	bloomOff   uint64
	// The 32-bit fields together: every part keeps one header per column
	// per block in memory, so padding costs RAM per stream (112 bytes).
	dataLen  uint32
	rawLen   uint32
	crc      uint32
	bloomLen uint32
}

type blockHeader struct {
	stream     uint32 // index into the part's stream table
	rows       uint32
	minT, maxT int64
	cols       []columnHeader
}

func (c *columnHeader) marshal(dst []byte) []byte {
	dst = appendStr(dst, c.name)
	dst = append(dst, byte(c.typ), byte(c.enc), c.width, c.flags)
	dst = binary.AppendUvarint(dst, uint64(c.present))
	dst = binary.AppendVarint(dst, c.minV)
	dst = binary.AppendVarint(dst, c.maxV)
	switch c.enc {
	case encConst:
		if c.typ == ctString || c.typ == ctID {
			dst = appendStr(dst, c.constStr)
		}
	case encDict:
		dst = binary.AppendUvarint(dst, uint64(len(c.dict)))
		for _, s := range c.dict {
			dst = appendStr(dst, s)
		}
	}
	dst = binary.AppendUvarint(dst, c.dataOff)
	dst = binary.AppendUvarint(dst, uint64(c.dataLen))
	dst = binary.AppendUvarint(dst, uint64(c.rawLen))
	dst = binary.LittleEndian.AppendUint32(dst, c.crc)
	dst = binary.AppendUvarint(dst, c.bloomOff)
	return binary.AppendUvarint(dst, uint64(c.bloomLen))
}

func (c *columnHeader) unmarshal(d *decBuf) {
	c.name = d.str("column name")
	c.typ = colType(d.byte1("column type"))
	c.enc = colEnc(d.byte1("column encoding"))
	c.width = d.byte1("column width")
	c.flags = d.byte1("column flags")
	c.present = uint32(d.uvarint("column present"))
	c.minV = d.varint("column min")
	c.maxV = d.varint("column max")
	if d.err != nil {
		return
	}
	if c.typ < ctString || c.typ > ctID || c.enc < encConst || c.enc > encDecimal || (c.typ == ctID && (c.width == 0 || c.width > 32)) {
		d.err = fmt.Errorf("decode column header %q: bad type %d or encoding %d", c.name, c.typ, c.enc)
		return
	}
	switch c.enc {
	case encConst:
		if c.typ == ctString || c.typ == ctID {
			c.constStr = d.str("column const")
		}
	case encDict:
		if c.typ != ctString {
			d.err = fmt.Errorf("decode column header %q: dictionary on non-string column", c.name)
			return
		}
		n := d.count(1, "column dict")
		if n > maxDictValues {
			d.err = fmt.Errorf("decode column header %q: dictionary of %d values", c.name, n)
			return
		}
		c.dict = slices.Grow(c.dict[:0], n)[:n]
		for i := range c.dict {
			c.dict[i] = d.str("column dict value")
		}
	}
	c.dataOff = d.uvarint("column data offset")
	c.dataLen = uint32(d.uvarint("column data length"))
	c.rawLen = uint32(d.uvarint("column raw length"))
	c.crc = d.u32("column crc")
	c.bloomOff = d.uvarint("column bloom offset")
	c.bloomLen = uint32(d.uvarint("column bloom length"))
	if d.err == nil && c.rawLen > maxColumnRaw {
		d.err = fmt.Errorf("decode column header %q: raw length %d too large", c.name, c.rawLen)
	}
}

func (b *blockHeader) marshal(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(b.stream))
	dst = binary.AppendUvarint(dst, uint64(b.rows))
	dst = binary.AppendVarint(dst, b.minT)
	dst = binary.AppendVarint(dst, b.maxT)
	dst = binary.AppendUvarint(dst, uint64(len(b.cols)))
	for i := range b.cols {
		dst = b.cols[i].marshal(dst)
	}
	return dst
}

func (b *blockHeader) unmarshal(d *decBuf) {
	b.stream = uint32(d.uvarint("block stream"))
	b.rows = uint32(d.uvarint("block rows"))
	b.minT = d.varint("block min time")
	b.maxT = d.varint("block max time")
	n := d.count(16, "block columns")
	if d.err != nil {
		return
	}
	if b.rows == 0 || b.rows > maxBlockRows || b.minT > b.maxT {
		d.err = fmt.Errorf("decode block header: %d rows, time %d..%d", b.rows, b.minT, b.maxT)
		return
	}
	// The columns' memory is reused when b is (see partIndex.header).
	b.cols = slices.Grow(b.cols[:0], n)[:n]
	for i := range b.cols {
		b.cols[i] = columnHeader{dict: b.cols[i].dict[:0]}
		b.cols[i].unmarshal(d)
		if d.err != nil {
			return
		}
		if b.cols[i].present > b.rows {
			d.err = fmt.Errorf("decode column header %q: %d present of %d rows", b.cols[i].name, b.cols[i].present, b.rows)
			return
		}
	}
}

func (b *blockHeader) col(name string) *columnHeader {
	for i := range b.cols {
		if b.cols[i].name == name {
			return &b.cols[i]
		}
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Column blobs and the index carry their own CRC32C over the stored bytes,
// so zstd frames are written without their XXH64 content checksum and the
// checksum of frames written by older versions is not verified again.
var (
	zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
	zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxColumnRaw),
		zstd.IgnoreChecksum(true))
	// zstdFastEnc compresses the parts a head flush writes: they are on the
	// ingest path and are re-encoded with zstdEnc when merged.
	zstdFastEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
	// zstdColdEnc compresses the string columns of the parts of a
	// partition that has stopped receiving rows (Options.ColdAfter):
	// written once, kept for weeks.
	zstdColdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
)

// zLevel is the zstd level a part's column blobs were written at.
type zLevel uint8

const (
	levelFast    zLevel = iota // head flushes
	levelDefault               // merges
	levelCold                  // merges of a partition gone quiet
)

// encoder returns the encoder for a column of type typ at level l. The
// cold level compresses only string columns harder: ids are random bytes
// and numbers are already packed, so more effort finds nothing in them.
func (l zLevel) encoder(typ colType) *zstd.Encoder {
	switch {
	case l == levelFast:
		return zstdFastEnc
	case l == levelCold && typ == ctString:
		return zstdColdEnc
	}
	return zstdEnc
}

// --------------------------------------------------------------- building

// colAcc accumulates one column's values while a block is built.
type colAcc struct {
	name    string
	typ     colType
	width   int
	present []byte // bitmap over rows
	n       int    // present count
	strs    []string
	nums    []int64
	ids     []byte
}

func (a *colAcc) reset(name string, typ colType, rows int) {
	a.name, a.typ, a.n, a.width = name, typ, 0, 0
	a.present = slices.Grow(a.present[:0], bitmapLen(rows))[:bitmapLen(rows)]
	clear(a.present)
	a.strs, a.nums, a.ids = a.strs[:0], a.nums[:0], a.ids[:0]
}

// blockBuilder turns sorted rows of one stream into column blobs. Not safe
// for concurrent use; pooled.
type blockBuilder struct {
	accs   []*colAcc
	spare  []*colAcc // accs' backing accumulators, reused across blocks
	byPos  []*colAcc // column of the attribute at each position in the last row
	byKey  map[attrKey]*colAcc
	raw    []byte
	comp   []byte
	hashes []uint64
	i64    []int64
	u64    []uint64
	uniq   map[string]int
	grams  gramSet
	gramH  []uint64
	hset   hashSet
	// dictIdx holds each row's value number while a dictionary is built.
	dictIdx []byte
	tok     []byte
	level   zLevel
}

type attrKey struct {
	name string
	typ  model.ValueType
}

var blockBuilderPool = sync.Pool{New: func() any {
	return &blockBuilder{byKey: map[attrKey]*colAcc{}, uniq: map[string]int{}}
}}

func (bb *blockBuilder) acc(name string, typ colType, rows int) *colAcc {
	n := len(bb.accs)
	if n == len(bb.spare) {
		bb.spare = append(bb.spare, &colAcc{})
	}
	a := bb.spare[n]
	bb.accs = append(bb.accs, a)
	a.reset(name, typ, rows)
	return a
}

// blockSink receives encoded blobs and returns their offsets.
type blockSink interface {
	writeData(p []byte) (off uint64, err error)
	writeBloom(p []byte) (off uint64, err error)
}

// build encodes rows (one stream, sorted by time) and returns the header.
func (bb *blockBuilder) build(rows []*model.Event, stream uint32, sink blockSink) (blockHeader, error) {
	n := len(rows)
	bh := blockHeader{stream: stream, rows: uint32(n), minT: rows[0].Time, maxT: rows[n-1].Time}
	bb.accs = bb.accs[:0]
	clear(bb.byKey)

	t := bb.acc(model.FieldTime, ctInt, n)
	for i, r := range rows {
		t.nums = append(t.nums, r.Time)
		bitmapSet(t.present, i)
	}
	t.n = n
	strCol := func(name string, get func(*model.Event) string) {
		var a *colAcc
		for i, r := range rows {
			if s := get(r); s != "" {
				if a == nil {
					a = bb.acc(name, ctString, n)
				}
				a.strs = append(a.strs, s)
				bitmapSet(a.present, i)
				a.n++
			}
		}
	}
	intCol := func(name string, get func(*model.Event) int64) {
		var a *colAcc
		for i, r := range rows {
			if v := get(r); v != 0 {
				if a == nil {
					a = bb.acc(name, ctInt, n)
				}
				a.nums = append(a.nums, v)
				bitmapSet(a.present, i)
				a.n++
			}
		}
	}
	idCol := func(name string, width int, get func(*model.Event) []byte) {
		var a *colAcc
		for i, r := range rows {
			id := get(r)
			if !allZero(id) {
				if a == nil {
					a = bb.acc(name, ctID, n)
					a.width = width
				}
				a.ids = append(a.ids, id...)
				bitmapSet(a.present, i)
				a.n++
			}
		}
	}
	strCol(model.FieldBody, func(e *model.Event) string { return e.Body })
	strCol(model.FieldSeverity, func(e *model.Event) string { return e.Severity })
	strCol(model.FieldName, func(e *model.Event) string { return e.Name })
	strCol(model.FieldStatusMessage, func(e *model.Event) string { return e.StatusMessage })
	intCol(model.FieldKind, func(e *model.Event) int64 { return int64(e.Kind) })
	intCol(model.FieldStatusCode, func(e *model.Event) int64 { return int64(e.StatusCode) })
	intCol(model.FieldDuration, func(e *model.Event) int64 { return e.Duration })
	idCol(model.FieldTraceID, 16, func(e *model.Event) []byte { return e.TraceID[:] })
	idCol(model.FieldSpanID, 8, func(e *model.Event) []byte { return e.SpanID[:] })
	idCol(model.FieldParentSpanID, 8, func(e *model.Event) []byte { return e.ParentSpanID[:] })

	attrStart := len(bb.accs)
	// Rows of a stream usually carry the same attributes in the same order:
	// remember the column used at each attribute position to skip the map.
	bb.byPos = bb.byPos[:0]
	for i, r := range rows {
		for j := range r.Attrs {
			at := &r.Attrs[j]
			if at.Value.Type == model.TypeNone {
				continue
			}
			var a *colAcc
			if j < len(bb.byPos) {
				if c := bb.byPos[j]; c != nil && c.name == at.Key && c.typ == colType(at.Value.Type) {
					a = c
				}
			}
			if a == nil {
				k := attrKey{at.Key, at.Value.Type}
				a = bb.byKey[k]
				if a == nil {
					a = bb.acc(at.Key, colType(at.Value.Type), n)
					bb.byKey[k] = a
				}
				for len(bb.byPos) <= j {
					bb.byPos = append(bb.byPos, nil)
				}
				bb.byPos[j] = a
			}
			if bitmapGet(a.present, i) {
				continue // duplicate key in one row: first wins
			}
			bitmapSet(a.present, i)
			a.n++
			if at.Value.Type == model.TypeString {
				a.strs = append(a.strs, at.Value.Str)
			} else {
				a.nums = append(a.nums, int64(at.Value.Num))
			}
		}
	}
	// Stable column order: intrinsics first (as added), then attributes by name.
	slices.SortFunc(bb.accs[attrStart:], func(x, y *colAcc) int {
		if c := strings.Compare(x.name, y.name); c != 0 {
			return c
		}
		return int(x.typ) - int(y.typ)
	})
	bh.cols = make([]columnHeader, 0, len(bb.accs))
	for _, a := range bb.accs {
		ch, err := bb.encodeColumn(a, n, sink)
		if err != nil {
			return bh, err
		}
		bh.cols = append(bh.cols, ch)
	}
	return bh, nil
}

// anyZeroTracePrefix reports whether one of the w-byte ids has a trace
// directory prefix (its first 4 bytes) of zero.
func anyZeroTracePrefix(ids []byte, w int) bool {
	for i := 0; i+4 <= len(ids); i += w {
		if ids[i]|ids[i+1]|ids[i+2]|ids[i+3] == 0 {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (bb *blockBuilder) encodeColumn(a *colAcc, rows int, sink blockSink) (columnHeader, error) {
	ch := columnHeader{name: a.name, typ: a.typ, present: uint32(a.n), width: uint8(a.width)}
	raw := bb.raw[:0]
	if a.n < rows {
		raw = append(raw, a.present...)
	}
	bb.hashes, bb.gramH = bb.hashes[:0], bb.gramH[:0]
	switch a.typ {
	case ctString:
		ch.minV, ch.maxV = 0, 0
		if allSame(a.strs) {
			ch.enc, ch.constStr = encConst, a.strs[0]
			break
		}
		// One pass finds the distinct values and each row's value number
		// in order of first appearance; it stops when they outgrow a
		// dictionary.
		clear(bb.uniq)
		bb.dictIdx = bb.dictIdx[:0]
		size := 0
		prev, k := a.strs[0], 0
		bb.uniq[prev] = 0
		size += len(prev)
		for _, s := range a.strs {
			if s != prev {
				prev = s
				var ok bool
				if k, ok = bb.uniq[s]; !ok {
					k = len(bb.uniq)
					bb.uniq[s] = k
					size += len(s)
					if len(bb.uniq) > maxDictValues || size > maxDictBytes {
						break
					}
				}
			}
			bb.dictIdx = append(bb.dictIdx, byte(k))
		}
		if len(bb.uniq) <= maxDictValues && size <= maxDictBytes {
			ch.enc = encDict
			ch.dict = make([]string, len(bb.uniq))
			for s, i := range bb.uniq {
				ch.dict[i] = s
			}
			// Sorted dictionaries make files deterministic.
			slices.Sort(ch.dict)
			var sorted [maxDictValues]byte // first-appearance number -> index
			for i, s := range ch.dict {
				sorted[bb.uniq[s]] = byte(i)
			}
			for _, x := range bb.dictIdx {
				raw = append(raw, sorted[x])
			}
			break
		}
		if w, ok := hexWidth(a.strs); ok {
			ch.enc, ch.width = encHex, uint8(w)
			raw = encodeHex(raw, a.strs)
		} else {
			ch.enc = encPlain
			raw, bb.i64, bb.u64 = encodeStrings(raw, a.strs, bb.i64, bb.u64)
		}
		if gramColumn(a.name, a.typ, ch.enc) {
			for _, s := range a.strs {
				bb.hashes = bb.grams.addTokens(bb.hashes, s)
			}
			bb.gramH = bb.grams.appendHashes(bb.gramH)
			break
		}
		for _, s := range a.strs {
			bb.hashes = appendTokenHashes(bb.hashes, s)
		}
	case ctInt, ctBool:
		ch.minV, ch.maxV = slices.Min(a.nums), slices.Max(a.nums)
		if ch.minV == ch.maxV {
			ch.enc = encConst
			break
		}
		ch.enc = encPacked
		raw, bb.u64 = encodeInts(raw, a.nums, bb.u64)
	case ctFloat:
		// NaN matches no comparison, so it stays out of the bounds (Go's
		// min and max would return NaN, and a NaN bound prunes every
		// filter); a block of only NaNs gets lo > hi.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range a.nums {
			if f := math.Float64frombits(uint64(v)); !math.IsNaN(f) {
				lo, hi = min(lo, f), max(hi, f)
			}
		}
		ch.minV, ch.maxV = int64(math.Float64bits(lo)), int64(math.Float64bits(hi))
		if allSameInt(a.nums) {
			ch.enc, ch.minV, ch.maxV = encConst, a.nums[0], a.nums[0]
			break
		}
		var ok bool
		if raw, bb.i64, bb.u64, ok = encodeDecimals(raw, a.nums, bb.i64, bb.u64); ok {
			ch.enc = encDecimal
			break
		}
		ch.enc = encPlain
		for _, v := range a.nums {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	case ctID:
		w := a.width
		same := true
		for i := w; i < len(a.ids); i += w {
			if !bytes.Equal(a.ids[i:i+w], a.ids[:w]) {
				same = false
				break
			}
		}
		if same {
			ch.enc, ch.constStr = encConst, string(a.ids[:w])
			break
		}
		ch.enc = encPlain
		raw = append(raw, a.ids...)
		if a.name == model.FieldTraceID && !anyZeroTracePrefix(a.ids, w) {
			// The part's trace directory finds trace ids' blocks. It keys
			// them by their first 4 bytes, which are zero for every 64-bit
			// id (ParseTraceID pads on the left): blocks holding such ids
			// keep their bloom, or one such id would read them all.
			break
		}
		for i := 0; i < len(a.ids); i += w {
			bb.hashes = append(bb.hashes, idHash(a.ids[i:i+w]))
		}
	}
	bb.raw = raw
	if ch.enc == encConst && a.n == rows {
		return ch, nil
	}
	stored := raw
	if len(raw) >= 64 {
		bb.comp = bb.level.encoder(ch.typ).EncodeAll(raw, bb.comp[:0])
		if len(bb.comp) < len(raw)-len(raw)/10 {
			stored = bb.comp
			ch.flags |= flagZstd
		}
	}
	ch.rawLen, ch.dataLen = uint32(len(raw)), uint32(len(stored))
	ch.crc = crc32.Checksum(stored, castagnoli)
	off, err := sink.writeData(stored)
	if err != nil {
		return ch, err
	}
	ch.dataOff = off
	if len(bb.hashes) > 0 {
		bb.hashes = bb.hset.dedup(bb.hashes)
		blob := bloomBuild(bb.comp[:0], bb.hashes)
		if len(bb.gramH) > 0 {
			bb.tok = append(bb.tok[:0], blob...)
			blob = bloomAppendComposite(blob[:0], bb.tok, bb.gramH)
		}
		bb.comp = blob
		off, err := sink.writeBloom(blob)
		if err != nil {
			return ch, err
		}
		ch.bloomOff, ch.bloomLen = off, uint32(len(blob))
	}
	return ch, nil
}

func allSame(s []string) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}

func allSameInt(s []int64) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}

// --------------------------------------------------------------- reading

// colData is one decoded column. Values stay in their compact decoded form
// and are read per row (present rows are ranked through the presence
// bitmap), so materializing a few rows of a block costs little beyond
// decompression.
type colData struct {
	h     *columnHeader
	rows  int
	has   []byte  // presence bitmap; nil means every row
	rank  []int32 // value index per row when has != nil (-1: absent)
	idx   []byte  // dict indexes
	off   []uint32
	bytes []byte // plain strings' bytes; hex, float and id fixed-width values
	nums  []int64
	// dictMatch caches a filter's result per dictionary entry.
	dictMatch    []int8
	dictMatchFor *cfilter
}

func (c *colData) present(r int) bool { return c.has == nil || bitmapGet(c.has, r) }

// k returns row r's value index (r must be present).
func (c *colData) k(r int) int {
	if c.rank == nil {
		return r
	}
	return int(c.rank[r])
}

// str returns a string column's value at a present row.
func (c *colData) str(r int) string {
	h := c.h
	switch h.enc {
	case encConst:
		return h.constStr
	case encDict:
		return h.dict[c.idx[c.k(r)]]
	case encHex:
		k, w := c.k(r), int(h.width)
		return bytesToString(hexAppend(make([]byte, 0, 2*w), c.bytes[k*w:(k+1)*w]))
	default:
		k := c.k(r)
		return bytesToString(c.bytes[c.off[k]:c.off[k+1]])
	}
}

// num returns an int/float/bool column's value bits at a present row.
func (c *colData) num(r int) int64 {
	h := c.h
	switch {
	case h.enc == encConst:
		return h.minV
	case h.typ == ctFloat && h.enc == encPlain:
		return int64(binary.LittleEndian.Uint64(c.bytes[8*c.k(r):]))
	default:
		return c.nums[c.k(r)]
	}
}

// id returns an id column's bytes at a present row.
func (c *colData) id(r int) []byte {
	w := int(c.h.width)
	if c.h.enc == encConst {
		return []byte(c.h.constStr)
	}
	k := c.k(r)
	return c.bytes[k*w : (k+1)*w]
}

func hexAppend(dst, b []byte) []byte {
	for _, x := range b {
		dst = append(dst, hexDigits[x>>4], hexDigits[x&15])
	}
	return dst
}

// decodeColumn decodes a column from its stored blob (nil for a const column
// present in every row), and returns the bytes its values alias: stored, or
// for a compressed column the buffer it was decompressed into, dst when that
// has room.
func decodeColumn(h *columnHeader, rows int, stored, dst []byte) (*colData, []byte, error) {
	c := &colData{h: h, rows: rows}
	if h.enc == encConst && int(h.present) == rows {
		return c, nil, c.checkConst()
	}
	if uint32(len(stored)) != h.dataLen {
		return nil, nil, fmt.Errorf("decode column %q: have %d bytes, header says %d", h.name, len(stored), h.dataLen)
	}
	if crc32.Checksum(stored, castagnoli) != h.crc {
		return nil, nil, fmt.Errorf("decode column %q: checksum mismatch", h.name)
	}
	raw := stored
	if h.flags&flagZstd != 0 {
		var err error
		if cap(dst) < int(h.rawLen) {
			dst = make([]byte, 0, min(int(h.rawLen), 64*len(stored)+4096))
		}
		raw, err = zstdDec.DecodeAll(stored, dst[:0])
		if err != nil {
			return nil, nil, fmt.Errorf("decode column %q: %w", h.name, err)
		}
	}
	if uint32(len(raw)) != h.rawLen {
		return nil, nil, fmt.Errorf("decode column %q: raw length %d, header says %d", h.name, len(raw), h.rawLen)
	}
	return c, raw, c.decodeRaw(rows, raw)
}

func (c *colData) checkConst() error {
	h := c.h
	if h.typ == ctID && len(h.constStr) != int(h.width) {
		return fmt.Errorf("decode column %q: const id of %d bytes, width %d", h.name, len(h.constStr), h.width)
	}
	return nil
}

func (c *colData) decodeRaw(rows int, raw []byte) error {
	h := c.h
	c.rows = rows
	np := int(h.present)
	if np < rows {
		if len(raw) < bitmapLen(rows) {
			return fmt.Errorf("decode column %q: %w", h.name, errShort)
		}
		c.has = raw[:bitmapLen(rows)]
		raw = raw[bitmapLen(rows):]
		c.rank = make([]int32, rows)
		k := int32(0)
		for r := range rows {
			if bitmapGet(c.has, r) {
				c.rank[r] = k
				k++
			} else {
				c.rank[r] = -1
			}
		}
		if int(k) != np {
			return fmt.Errorf("decode column %q: presence bitmap disagrees with header", h.name)
		}
	}
	var err error
	switch {
	case h.enc == encConst:
		err = c.checkConst()
	case h.typ == ctString && h.enc == encDict:
		if len(raw) < np {
			return fmt.Errorf("decode column %q: %w", h.name, errShort)
		}
		c.idx, raw = raw[:np], raw[np:]
		for _, b := range c.idx {
			if int(b) >= len(h.dict) {
				return fmt.Errorf("decode column %q: dictionary index %d out of range", h.name, b)
			}
		}
	case h.typ == ctString && h.enc == encHex:
		w := int(h.width)
		if w == 0 || w > 32 || len(raw) < np*w {
			return fmt.Errorf("decode column %q: bad hex data", h.name)
		}
		c.bytes, raw = raw[:np*w], raw[np*w:]
	case h.typ == ctString && h.enc == encPlain:
		var lens []int64
		lens, raw, err = decodeInts(make([]int64, 0, np), raw, np)
		if err != nil {
			break
		}
		c.off = make([]uint32, np+1)
		total := uint64(0)
		for i, l := range lens {
			if l < 0 || l > int64(len(raw)) {
				return fmt.Errorf("decode column %q: string length %d out of range", h.name, l)
			}
			total += uint64(l)
			if total > uint64(len(raw)) {
				return fmt.Errorf("decode column %q: %w", h.name, errShort)
			}
			c.off[i+1] = uint32(total)
		}
		c.bytes, raw = raw[:total], raw[total:]
	case (h.typ == ctInt || h.typ == ctBool) && h.enc == encPacked:
		c.nums, raw, err = decodeInts(make([]int64, 0, np), raw, np)
	case h.typ == ctFloat && h.enc == encDecimal:
		c.nums, raw, err = decodeDecimals(make([]int64, 0, np), raw, np)
	case h.typ == ctFloat && h.enc == encPlain:
		if len(raw) < 8*np {
			return fmt.Errorf("decode column %q: %w", h.name, errShort)
		}
		c.bytes, raw = raw[:8*np], raw[8*np:]
	case h.typ == ctID && h.enc == encPlain:
		w := int(h.width)
		if w == 0 || w > 32 || len(raw) < w*np {
			return fmt.Errorf("decode column %q: bad id data", h.name)
		}
		c.bytes, raw = raw[:w*np], raw[w*np:]
	default:
		return fmt.Errorf("decode column %q: encoding %d invalid for type %d", h.name, h.enc, h.typ)
	}
	if err != nil {
		return fmt.Errorf("decode column %q: %w", h.name, err)
	}
	if len(raw) != 0 {
		return fmt.Errorf("decode column %q: %d trailing bytes", h.name, len(raw))
	}
	return nil
}

// timesPerRow returns the column's int values with one slot per row.
func (c *colData) timesPerRow() []int64 {
	if c.h.enc != encConst && c.rank == nil {
		return c.nums
	}
	out := make([]int64, c.rows)
	for r := range out {
		if c.present(r) {
			out[r] = c.num(r)
		}
	}
	return out
}

// value returns row r's value as a model.Value (for attribute columns).
func (c *colData) value(r int) model.Value {
	switch c.h.typ {
	case ctString:
		return model.StringValue(c.str(r))
	case ctID:
		return model.StringValue(bytesToString(hexAppend(nil, c.id(r))))
	default:
		return model.Value{Type: model.ValueType(c.h.typ), Num: uint64(c.num(r))}
	}
}

// matchString evaluates f on a string column's present row, caching results
// per dictionary entry.
func (c *colData) matchString(f *cfilter, r int) bool {
	if c.h.enc != encDict {
		return f.matchString(c.str(r))
	}
	if c.dictMatchFor != f {
		c.dictMatchFor = f
		c.dictMatch = make([]int8, len(c.h.dict))
	}
	i := c.idx[c.k(r)]
	switch c.dictMatch[i] {
	case 1:
		return true
	case 2:
		return false
	}
	m := f.matchString(c.h.dict[i])
	c.dictMatch[i] = 2
	if m {
		c.dictMatch[i] = 1
	}
	return m
}
