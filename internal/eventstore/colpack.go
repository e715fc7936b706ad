package eventstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// An open part keeps its block headers in memory in a compact form, since
// they cost RAM per active stream (T8): a fixed blockRef per block, and the
// block's column headers packed into one byte slice per part, decoded into
// a blockHeader only when a query or a merge gets past the block's time
// range (partIndex.header). A decoded header is never kept by the part:
// one wide query would otherwise bring the memory back.
//
// The packing is private to the process; index.bin keeps the format of
// docs/format/part.md. Headers are packed from index.bin once they passed
// every check of blockHeader.unmarshal, at part open, so a corrupt part is
// still refused when it is opened. A block's packed headers are:
//
//	uvarint   columns<<3 | 4 if no two columns share a name
//	          | 2 if a data base follows | 1 if a bloom base does
//	uvarint   data base, uvarint bloom base (the columns' data and bloom
//	          offsets are relative to them)
//
// and per column, a uvarint name (an index into partIndex.names) and the
// uvarint length of the rest, so that a query can unpack only the columns
// it filters on (partIndex.headerOf), step over the others and stop once it
// has them all when names are unique:
//
//	byte      type | encoding<<4
//	byte      which of the following are present or implied (pk* bits)
//	byte      flags, byte width        (pkExt)
//	uvarint   present                  (absent with pkFull: present = rows)
//	varint    min                      (pkMinSet; pkMinT: the block's minT; else 0)
//	varint    max - min                (pkMaxSet; pkMaxT: the block's maxT; else min)
//	string    the const value (const string and id columns), or
//	uvarint n, n strings               (the dictionary)
//	varint    data offset - data base,
//	uvarint   data length, uvarint raw length, 4 bytes crc   (pkData)
//	varint    bloom offset - bloom base, uvarint bloom length (pkBloom)
//
// Strings are a uvarint length and the bytes; decoded strings share the
// packed slice's memory, which is never modified.

// blockRef is a block of an open part: what time pruning and merge
// planning read, and where its packed column headers are (24 bytes; its
// stream is found through partIndex.blockStream).
type blockRef struct {
	minT, maxT int64
	rows       uint32
	// colsAt is where the block's packed column headers start in
	// partIndex.cols.
	colsAt uint32
}

const (
	pkMinT   = 1 << 0
	pkMinSet = 1 << 1
	pkMaxT   = 1 << 2
	pkMaxSet = 1 << 3
	pkExt    = 1 << 4
	pkFull   = 1 << 5
	pkData   = 1 << 6
	pkBloom  = 1 << 7
)

// colPacker packs the column headers of a part's blocks (validated by
// blockHeader.unmarshal) while its index is parsed.
type colPacker struct {
	buf     []byte
	col     []byte // one column's packed fields
	names   []string
	nameIdx map[string]uint32
	// seen[name] is the number of the last block (blocks) holding it.
	seen   []uint32
	blocks uint32
}

// pack appends bh's column headers and returns where they start in the
// packed bytes.
func (pk *colPacker) pack(bh *blockHeader) (at uint32, err error) {
	start := len(pk.buf)
	var dataBase, bloomBase uint64
	hasData, hasBloom := false, false
	for i := range bh.cols {
		c := &bh.cols[i]
		if !hasData && colHasData(c) {
			dataBase, hasData = c.dataOff, true
		}
		if !hasBloom && colHasBloom(c) {
			bloomBase, hasBloom = c.bloomOff, true
		}
	}
	pk.blocks++
	unique := true
	for i := range bh.cols {
		ni := pk.name(bh.cols[i].name)
		if pk.seen[ni] == pk.blocks {
			unique = false
		}
		pk.seen[ni] = pk.blocks
	}
	head := uint64(len(bh.cols)) << 3
	if unique {
		head |= 4
	}
	if hasData {
		head |= 2
	}
	if hasBloom {
		head |= 1
	}
	b := binary.AppendUvarint(pk.buf, head)
	if hasData {
		b = binary.AppendUvarint(b, dataBase)
	}
	if hasBloom {
		b = binary.AppendUvarint(b, bloomBase)
	}
	for i := range bh.cols {
		c := &bh.cols[i]
		b = binary.AppendUvarint(b, uint64(pk.name(c.name)))
		pk.col = packColumn(pk.col[:0], c, bh, dataBase, bloomBase)
		b = binary.AppendUvarint(b, uint64(len(pk.col)))
		b = append(b, pk.col...)
	}
	pk.buf = b
	if len(b) > maxIndexRawBytes {
		return 0, fmt.Errorf("pack column headers: %d bytes", len(b))
	}
	return uint32(start), nil
}

// name returns the index of a column name, adding it when new.
func (pk *colPacker) name(s string) uint32 {
	ni, ok := pk.nameIdx[s]
	if !ok {
		ni = uint32(len(pk.names))
		s = strings.Clone(s)
		pk.names = append(pk.names, s)
		pk.nameIdx[s] = ni
		pk.seen = append(pk.seen, 0)
	}
	return ni
}

func colHasData(c *columnHeader) bool {
	return c.dataOff != 0 || c.dataLen != 0 || c.rawLen != 0 || c.crc != 0
}

func colHasBloom(c *columnHeader) bool { return c.bloomOff != 0 || c.bloomLen != 0 }

// packColumn appends column c's fields after its name and length.
func packColumn(b []byte, c *columnHeader, bh *blockHeader, dataBase, bloomBase uint64) []byte {
	var bits byte
	switch c.minV {
	case 0:
	case bh.minT:
		bits |= pkMinT
	default:
		bits |= pkMinSet
	}
	switch c.maxV {
	case c.minV:
	case bh.maxT:
		bits |= pkMaxT
	default:
		bits |= pkMaxSet
	}
	if c.flags != 0 || c.width != 0 {
		bits |= pkExt
	}
	if c.present == bh.rows {
		bits |= pkFull
	}
	if colHasData(c) {
		bits |= pkData
	}
	if colHasBloom(c) {
		bits |= pkBloom
	}
	b = append(b, byte(c.typ)|byte(c.enc)<<4, bits)
	if bits&pkExt != 0 {
		b = append(b, c.flags, c.width)
	}
	if bits&pkFull == 0 {
		b = binary.AppendUvarint(b, uint64(c.present))
	}
	if bits&pkMinSet != 0 {
		b = binary.AppendVarint(b, c.minV)
	}
	if bits&pkMaxSet != 0 {
		b = binary.AppendVarint(b, c.maxV-c.minV)
	}
	switch {
	case c.enc == encConst && (c.typ == ctString || c.typ == ctID):
		b = appendStr(b, c.constStr)
	case c.enc == encDict:
		b = binary.AppendUvarint(b, uint64(len(c.dict)))
		for _, s := range c.dict {
			b = appendStr(b, s)
		}
	}
	if bits&pkData != 0 {
		b = binary.AppendVarint(b, int64(c.dataOff-dataBase))
		b = binary.AppendUvarint(b, uint64(c.dataLen))
		b = binary.AppendUvarint(b, uint64(c.rawLen))
		b = binary.LittleEndian.AppendUint32(b, c.crc)
	}
	if bits&pkBloom != 0 {
		b = binary.AppendVarint(b, int64(c.bloomOff-bloomBase))
		b = binary.AppendUvarint(b, uint64(c.bloomLen))
	}
	return b
}

// header decodes the column headers of block b, which belongs to pi, into
// dst, reusing dst's memory: whatever dst held before must no longer be in
// use. Its strings share pi's memory. dst.stream is left zero: readers know
// the block's stream, and a merge copying the block sets its new one.
func (pi *partIndex) header(b *blockRef, dst *blockHeader) error {
	return pi.unpack(b, dst, nil, true)
}

// headerOf is header for the columns named by names[i] for i in want (see
// nameIndexes) only, in the block's order; the others are stepped over.
func (pi *partIndex) headerOf(b *blockRef, dst *blockHeader, want []uint32) error {
	return pi.unpack(b, dst, want, false)
}

// nameIndexes appends the indexes in pi.names of those of names the part's
// blocks have.
func (pi *partIndex) nameIndexes(dst []uint32, names ...string) []uint32 {
	for _, n := range names {
		if i, ok := pi.nameIdx[n]; ok && !slices.Contains(dst, i) {
			dst = append(dst, i)
		}
	}
	return dst
}

func (pi *partIndex) unpack(b *blockRef, dst *blockHeader, want []uint32, all bool) error {
	dst.stream, dst.rows, dst.minT, dst.maxT = 0, b.rows, b.minT, b.maxT
	dst.cols = dst.cols[:0]
	if int(b.colsAt) > len(pi.cols) {
		return fmt.Errorf("decode block header: packed headers at %d outside %d bytes", b.colsAt, len(pi.cols))
	}
	d := &decBuf{b: pi.cols[b.colsAt:], alias: true}
	head := d.uvarint("packed block")
	var dataBase, bloomBase uint64
	if head&2 != 0 {
		dataBase = d.uvarint("packed data base")
	}
	if head&1 != 0 {
		bloomBase = d.uvarint("packed bloom base")
	}
	n, unique := head>>3, head&4 != 0
	if d.err != nil {
		return fmt.Errorf("decode block header: %w", d.err)
	}
	if n > uint64(len(d.b)/2) {
		return fmt.Errorf("decode block header: %d packed columns in %d bytes", n, len(d.b))
	}
	if all {
		dst.cols = slices.Grow(dst.cols, int(n))
	}
	for range n {
		if unique && !all && len(dst.cols) == len(want) {
			break // the block has no other column of those names
		}
		ni := d.uvarint("packed column name")
		size := d.uvarint("packed column size")
		if d.err != nil {
			break
		}
		if size > uint64(len(d.b)) {
			return fmt.Errorf("decode block header: packed column of %d bytes, %d left", size, len(d.b))
		}
		fields := d.b[:size]
		d.b = d.b[size:]
		if !all && !slices.Contains(want, uint32(ni)) {
			continue
		}
		if ni >= uint64(len(pi.names)) {
			return fmt.Errorf("decode block header: column name %d of %d", ni, len(pi.names))
		}
		k := len(dst.cols)
		if k < cap(dst.cols) {
			dst.cols = dst.cols[:k+1]
			dst.cols[k] = columnHeader{dict: dst.cols[k].dict[:0]}
		} else {
			dst.cols = append(dst.cols, columnHeader{})
		}
		c := &dst.cols[k]
		c.name = pi.names[ni]
		if err := unpackColumn(fields, c, b, dataBase, bloomBase); err != nil {
			return fmt.Errorf("decode block header: column %q: %w", c.name, err)
		}
	}
	if d.err != nil {
		return fmt.Errorf("decode block header: %w", d.err)
	}
	return nil
}

// unpackColumn decodes one column's fields (packColumn) into c, whose
// name is set and dict reusable, and checks it.
func unpackColumn(fields []byte, c *columnHeader, b *blockRef, dataBase, bloomBase uint64) error {
	d := decBuf{b: fields, alias: true}
	te := d.byte1("type")
	bits := d.byte1("fields")
	c.typ, c.enc = colType(te&15), colEnc(te>>4)
	if bits&pkExt != 0 {
		c.flags, c.width = d.byte1("flags"), d.byte1("width")
	}
	c.present = b.rows
	if bits&pkFull == 0 {
		c.present = uint32(d.uvarint("present"))
	}
	switch {
	case bits&pkMinSet != 0:
		c.minV = d.varint("min")
	case bits&pkMinT != 0:
		c.minV = b.minT
	}
	switch {
	case bits&pkMaxSet != 0:
		c.maxV = c.minV + d.varint("max")
	case bits&pkMaxT != 0:
		c.maxV = b.maxT
	default:
		c.maxV = c.minV
	}
	switch {
	case c.enc == encConst && (c.typ == ctString || c.typ == ctID):
		c.constStr = d.str("const")
	case c.enc == encDict:
		nd := d.count(1, "dict")
		c.dict = slices.Grow(c.dict, nd)[:nd]
		// The planner unpacks the dictionaries of the columns it filters on
		// for every block in range: short values take the fast path.
		p := d.b
		for j := range c.dict {
			if len(p) > 0 && p[0] < 0x80 && int(p[0]) < len(p) {
				c.dict[j], p = bytesToString(p[1:1+p[0]]), p[1+p[0]:]
				continue
			}
			d.b = p
			c.dict[j] = d.str("dict value")
			p = d.b
		}
		d.b = p
	}
	if bits&pkData != 0 {
		c.dataOff = dataBase + uint64(d.varint("data offset"))
		c.dataLen = uint32(d.uvarint("data length"))
		c.rawLen = uint32(d.uvarint("raw length"))
		c.crc = d.u32("crc")
	}
	if bits&pkBloom != 0 {
		c.bloomOff = bloomBase + uint64(d.varint("bloom offset"))
		c.bloomLen = uint32(d.uvarint("bloom length"))
	}
	switch {
	case d.err != nil:
		return d.err
	case len(d.b) != 0:
		return fmt.Errorf("%d trailing packed bytes", len(d.b))
	}
	return c.check(b.rows)
}

// check repeats, on a column header unpacked from memory, the checks of
// blockHeader.unmarshal that the rest of the package relies on: it costs a
// few comparisons, and damaged memory then gives an error, not wrong rows.
func (c *columnHeader) check(rows uint32) error {
	switch {
	case c.typ < ctString || c.typ > ctID || c.enc < encConst || c.enc > encDecimal || (c.typ == ctID && (c.width == 0 || c.width > 32)):
		return fmt.Errorf("column %q: bad type %d or encoding %d", c.name, c.typ, c.enc)
	case c.enc == encDict && (c.typ != ctString || len(c.dict) > maxDictValues):
		return fmt.Errorf("column %q: bad dictionary", c.name)
	case c.rawLen > maxColumnRaw:
		return fmt.Errorf("column %q: raw length %d too large", c.name, c.rawLen)
	case c.present > rows:
		return fmt.Errorf("column %q: %d present of %d rows", c.name, c.present, rows)
	}
	return nil
}

// headerAt decodes block bi's header, its stream included, into a new
// blockHeader (for tests; queries reuse one through header).
func (pi *partIndex) headerAt(bi int) (blockHeader, error) {
	var bh blockHeader
	err := pi.header(&pi.blocks[bi], &bh)
	bh.stream = pi.blockStream(uint32(bi))
	return bh, err
}
