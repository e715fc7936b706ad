package eventstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"reflect"
	"slices"
	"strings"
	"unsafe"
)

// Merges copy big blocks of their input parts as they are instead of
// decoding their rows and encoding them again: the block's column headers
// are taken over with every byte region they point at copied into the new
// part and the offsets rewritten.
//
// The regions are found from the header types themselves: every field
// named <x>Off (an unsigned offset) with a sibling <x>Len (an unsigned
// length) in columnHeader or blockHeader is a region. dataOff points into
// data.bin and every other region into bloom.bin (a blockSink has no other
// file). So a filter or index added next to the bloom filters is copied
// with its block without any change here.

// byteRegion is one <x>Off/<x>Len pair of a header struct.
type byteRegion struct {
	name    string
	data    bool // in data.bin, otherwise bloom.bin
	off, ln reflect.StructField
}

var (
	colRegions   = findRegions(reflect.TypeFor[columnHeader]())
	blockRegions = findRegions(reflect.TypeFor[blockHeader]())
)

func findRegions(t reflect.Type) []byteRegion {
	var out []byteRegion
	for i := range t.NumField() {
		f := t.Field(i)
		base, ok := strings.CutSuffix(f.Name, "Off")
		if !ok || base == "" || !isUnsigned(f.Type) {
			continue
		}
		l, ok := t.FieldByName(base + "Len")
		if !ok || !isUnsigned(l.Type) {
			continue
		}
		out = append(out, byteRegion{name: base, data: base == "data", off: f, ln: l})
	}
	return out
}

func isUnsigned(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// field returns the addressable field f of the struct at p.
func field(p unsafe.Pointer, f reflect.StructField) reflect.Value {
	return reflect.NewAt(f.Type, unsafe.Add(p, f.Offset)).Elem()
}

func (r byteRegion) get(p unsafe.Pointer) (off, n uint64) {
	return field(p, r.off).Uint(), field(p, r.ln).Uint()
}

func (r byteRegion) set(p unsafe.Pointer, off, n uint64) error {
	o, l := field(p, r.off), field(p, r.ln)
	if o.OverflowUint(off) || l.OverflowUint(n) {
		return fmt.Errorf("%s region %d+%d does not fit its header fields", r.name, off, n)
	}
	o.SetUint(off)
	l.SetUint(n)
	return nil
}

// srcBlock is block bi of input part in (an index into the merge's
// inputs); small is smallBlock's verdict.
type srcBlock struct {
	in    int
	bi    uint32
	small bool
}

// blockCopier copies blocks of a merge's input parts into the part being
// written. Not safe for concurrent use.
type blockCopier struct {
	parts []*part
	level zLevel // of the part being written
	// traces[in] holds input in's trace directory by block, decoded on the
	// first copy from it.
	traces []*blockTraces
	buf    []byte
	raw    []byte
	comp   []byte
	// Counts for tests and logs.
	copied, recompressed, reencoded int
}

// blockTraces is a part's trace directory grouped by block: the prefixes
// of block b are prefixes[start[b]:start[b+1]].
type blockTraces struct {
	start    []uint32
	prefixes []uint32
}

func newBlockCopier(parts []*part, level zLevel) *blockCopier {
	return &blockCopier{parts: parts, level: level, traces: make([]*blockTraces, len(parts))}
}

// copyBlock writes block b of its input with its bytes copied (and column
// data recompressed at the output's zstd level when the input was written
// at a lower one) and returns its header for the new part, as stream si.
func (c *blockCopier) copyBlock(b srcBlock, si uint32, sink partSink) (blockHeader, error) {
	p := c.parts[b.in]
	// A new header: the part being written keeps it until its index is.
	var bh blockHeader
	if err := p.idx.header(&p.idx.blocks[b.bi], &bh); err != nil {
		return bh, fmt.Errorf("copy block %d of part %s: %w", b.bi, p.info.ID, err)
	}
	bh.stream = si
	if err := c.copyRegions(p, blockRegions, unsafe.Pointer(&bh), sink, nil); err != nil {
		return bh, fmt.Errorf("copy block %d of part %s: %w", b.bi, p.info.ID, err)
	}
	for i := range bh.cols {
		ch := &bh.cols[i]
		if err := c.copyRegions(p, colRegions, unsafe.Pointer(ch), sink, ch); err != nil {
			return bh, fmt.Errorf("copy block %d of part %s: column %q: %w", b.bi, p.info.ID, ch.name, err)
		}
	}
	c.copied++
	return bh, nil
}

// copyRegions copies the regions of the header at h. ch is the column
// header when h is one: its data is checked against its CRC and may be
// recompressed.
func (c *blockCopier) copyRegions(p *part, regs []byteRegion, h unsafe.Pointer, sink partSink, ch *columnHeader) error {
	for _, r := range regs {
		off, n := r.get(h)
		if n == 0 {
			continue
		}
		if n > maxColumnRaw {
			return fmt.Errorf("%s region of %d bytes too large", r.name, n)
		}
		var b []byte
		var err error
		if r.data {
			b, err = c.readData(p, off, n)
			if err == nil && ch != nil {
				b, err = c.checkData(p, ch, b)
			}
		} else {
			end := off + n
			if end < off || end > uint64(len(p.blooms)) {
				err = fmt.Errorf("%s region %d+%d outside %s", r.name, off, n, fileBloom)
			} else {
				b = p.blooms[off:end]
			}
		}
		if err != nil {
			return err
		}
		var noff uint64
		if r.data {
			noff, err = sink.writeData(b)
		} else {
			noff, err = sink.writeBloom(b)
		}
		if err != nil {
			return err
		}
		if err := r.set(h, noff, uint64(len(b))); err != nil {
			return err
		}
	}
	return nil
}

func (c *blockCopier) readData(p *part, off, n uint64) ([]byte, error) {
	c.buf = slices.Grow(c.buf[:0], int(n))[:n]
	if _, err := p.data.ReadAt(c.buf, int64(off)); err != nil {
		return nil, fmt.Errorf("read %s: %w", fileData, err)
	}
	return c.buf, nil
}

// checkData verifies a column blob and, when its part was written at a
// lower zstd level than the output's, compresses it again at the output's:
// a compressed blob is replaced when that makes it smaller, one stored
// uncompressed (the lower level saved under 10%) when the output's level
// saves 10%, as a merge encoding it again would. It updates ch's flags and
// CRC to the returned bytes.
func (c *blockCopier) checkData(p *part, ch *columnHeader, b []byte) ([]byte, error) {
	if crc32.Checksum(b, castagnoli) != ch.crc {
		return nil, fmt.Errorf("checksum mismatch")
	}
	if p.info.level() >= c.level || len(b) < 64 {
		return b, nil
	}
	raw := b
	if ch.flags&flagZstd != 0 {
		var err error
		if raw, err = zstdDec.DecodeAll(b, c.raw[:0]); err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		c.raw = raw
	}
	if uint32(len(raw)) != ch.rawLen {
		return nil, fmt.Errorf("raw length %d, header says %d", len(raw), ch.rawLen)
	}
	c.comp = c.level.encoder(ch.typ).EncodeAll(raw, c.comp[:0])
	if ch.flags&flagZstd != 0 && len(c.comp) >= len(b) ||
		ch.flags&flagZstd == 0 && len(c.comp) >= len(raw)-len(raw)/10 {
		return b, nil
	}
	c.recompressed++
	ch.flags |= flagZstd
	ch.crc = crc32.Checksum(c.comp, castagnoli)
	return c.comp, nil
}

// appendTraces appends the trace directory entries of block b, renumbered
// as block nb of the new part.
func (c *blockCopier) appendTraces(dst []traceEntry, b srcBlock, nb uint32) ([]traceEntry, error) {
	bt := c.traces[b.in]
	if bt == nil {
		var err error
		if bt, err = readBlockTraces(c.parts[b.in]); err != nil {
			return dst, err
		}
		c.traces[b.in] = bt
	}
	for _, pre := range bt.prefixes[bt.start[b.bi]:bt.start[b.bi+1]] {
		dst = append(dst, traceEntry{pre, nb})
	}
	return dst, nil
}

// readBlockTraces reads and checks a part's whole trace directory.
func readBlockTraces(p *part) (*blockTraces, error) {
	nb := len(p.idx.blocks)
	var ents []traceEntry
	var buf []byte
	for _, ch := range p.idx.chunks {
		buf = slices.Grow(buf[:0], int(ch.size))[:ch.size]
		if _, err := p.trace.ReadAt(buf, int64(ch.off)); err != nil {
			return nil, fmt.Errorf("read trace directory of part %s: %w", p.info.ID, err)
		}
		if crc32.Checksum(buf, castagnoli) != ch.crc {
			return nil, fmt.Errorf("read trace directory of part %s: checksum mismatch", p.info.ID)
		}
		var err error
		if ents, err = decodeTraceEntries(ents, buf, ch, nb); err != nil {
			return nil, fmt.Errorf("read trace directory of part %s: %w", p.info.ID, err)
		}
	}
	bt := &blockTraces{start: make([]uint32, nb+1), prefixes: make([]uint32, len(ents))}
	for _, e := range ents {
		bt.start[e.block+1]++
	}
	for b := range nb {
		bt.start[b+1] += bt.start[b]
	}
	next := slices.Clone(bt.start[:nb])
	for _, e := range ents {
		bt.prefixes[next[e.block]] = e.prefix
		next[e.block]++
	}
	return bt, nil
}

// decodeTraceEntries appends every entry of trace chunk c; blocks must be
// below nblocks.
func decodeTraceEntries(dst []traceEntry, buf []byte, c traceChunk, nblocks int) ([]traceEntry, error) {
	cur := c.first
	for range c.n {
		d, k := binary.Uvarint(buf)
		if k <= 0 {
			return nil, fmt.Errorf("decode trace chunk: %w", errShort)
		}
		buf = buf[k:]
		b, k := binary.Uvarint(buf)
		if k <= 0 {
			return nil, fmt.Errorf("decode trace chunk: %w", errShort)
		}
		buf = buf[k:]
		if b >= uint64(nblocks) {
			return nil, fmt.Errorf("decode trace chunk: block %d out of range", b)
		}
		cur += uint32(d)
		dst = append(dst, traceEntry{cur, uint32(b)})
	}
	if len(buf) != 0 {
		return nil, fmt.Errorf("decode trace chunk: %d trailing bytes", len(buf))
	}
	return dst, nil
}
