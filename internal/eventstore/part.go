package eventstore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// A part is an immutable directory of four files (docs/format/part.md):
//
//	index.bin   stream table, block and column headers, trace directory index
//	data.bin    column blobs
//	bloom.bin   bloom filters
//	traces.bin  sorted (trace id, block) entries in checksummed chunks

const (
	indexMagic       = "SLIDX001"
	traceChunkLen    = 1024
	fileIndex        = "index.bin"
	fileData         = "data.bin"
	fileBloom        = "bloom.bin"
	fileTraces       = "traces.bin"
	maxIndexRawBytes = 1 << 30
)

// stream identifies rows sharing tenant, signal and stream labels. There is
// one per active stream (RAM per stream, T8), so it holds only the key and
// the labels (32 bytes): the tenant and the signal are read from the key.
type stream struct {
	key    string
	labels labels.Labels
}

// tenant returns the stream's tenant (sharing the key's memory): the key
// up to the first 0xff, a byte tenants cannot hold (checkKeyBytes).
func (st *stream) tenant() string {
	i := strings.IndexByte(st.key, 0xff)
	if i < 0 {
		return st.key
	}
	return st.key[:i]
}

// signal returns the stream's signal, the key's byte after the tenant.
func (st *stream) signal() model.Signal {
	if i := strings.IndexByte(st.key, 0xff); i >= 0 && i+1 < len(st.key) {
		return model.Signal(st.key[i+1])
	}
	return 0
}

func appendStreamKey(dst []byte, tenant string, sig model.Signal, ls labels.Labels) []byte {
	dst = append(dst, tenant...)
	dst = append(dst, 0xff, byte(sig))
	ls.Range(func(l labels.Label) {
		dst = append(dst, l.Name...)
		dst = append(dst, 0xfe)
		dst = append(dst, l.Value...)
		dst = append(dst, 0xff)
	})
	return dst
}

func newStream(tenant string, sig model.Signal, ls labels.Labels) *stream {
	return &stream{key: string(appendStreamKey(nil, tenant, sig, ls)), labels: ls}
}

// streamRows is one stream's rows sorted by time.
type streamRows struct {
	st   *stream
	rows []*model.Event
}

// segSource yields a part's streams in key order, each as segments in
// time order; ok is false at the end.
type segSource func() (st *stream, segs []mergeSeg, ok bool, err error)

// rowSegs turns groups of rows into one segment per stream.
func rowSegs(src groupSource) segSource {
	return func() (*stream, []mergeSeg, bool, error) {
		g, ok, err := src()
		if !ok || err != nil {
			return nil, nil, ok, err
		}
		return g.st, []mergeSeg{{rows: g.rows}}, true, nil
	}
}

// The trace directory maps the first 4 bytes of a trace id to the blocks
// holding it; a lookup reads one chunk and then only those blocks, where the
// full id is compared (a prefix collision costs a block read, never a wrong
// row).
type traceEntry struct {
	prefix uint32
	block  uint32
}

type traceChunk struct {
	first uint32 // prefix of the chunk's first entry
	off   uint64
	n     uint32 // entries
	size  uint32 // bytes
	crc   uint32
}

func tracePrefix(id model.TraceID) uint32 { return binary.BigEndian.Uint32(id[:4]) }

// partInfo is a part's summary, also stored in parts.json.
type partInfo struct {
	ID      string `json:"id"`
	Day     string `json:"day"`
	Rows    int64  `json:"rows"`
	Blocks  int    `json:"blocks"`
	MinTime int64  `json:"min_time"`
	MaxTime int64  `json:"max_time"`
	Bytes   int64  `json:"bytes"`
	// IndexBytes counts index.bin, bloom.bin and traces.bin.
	IndexBytes int64 `json:"index_bytes"`
	// Compact is set when every compressed column blob was written at the
	// default zstd level or above (merged parts): a merge copies such blobs
	// as they are, while those of head flushes (the fastest level) are
	// recompressed.
	Compact bool `json:"compact,omitempty"`
	// Cold is set, with Compact, when the blobs were written at the cold
	// level (a quiet partition's compaction; zLevel.encoder).
	Cold bool `json:"cold,omitempty"`
}

// level is the zstd level of the part's column blobs.
func (p partInfo) level() zLevel {
	switch {
	case p.Cold:
		return levelCold
	case p.Compact:
		return levelDefault
	}
	return levelFast
}

type countingWriter struct {
	f   writableFile
	w   *bufio.Writer
	off uint64
}

func newCountingWriter(fsys fileSystem, path string) (*countingWriter, error) {
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	return &countingWriter{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (c *countingWriter) write(p []byte) (uint64, error) {
	off := c.off
	n, err := c.w.Write(p)
	c.off += uint64(n)
	return off, err
}

func (c *countingWriter) finish() error {
	if err := c.w.Flush(); err != nil {
		c.f.Close()
		return err
	}
	if err := c.f.Sync(); err != nil {
		c.f.Close()
		return err
	}
	return c.f.Close()
}

type partSink struct{ data, bloom *countingWriter }

func (s partSink) writeData(p []byte) (uint64, error)  { return s.data.write(p) }
func (s partSink) writeBloom(p []byte) (uint64, error) { return s.bloom.write(p) }

// writePartFrom writes groups (sorted by stream key, rows by time) into a
// new part directory dir, fsyncing every file and the directory. The caller
// renames dir into place and publishes it. level is the zstd level of
// column data (head flushes: fast; merges: default or cold).
func writePartFrom(fsys fileSystem, dir string, src groupSource, level zLevel) (info partInfo, err error) {
	return writePartSegs(fsys, dir, rowSegs(src), level)
}

// writePartSegs is writePartFrom for segments: rows to encode, or blocks
// of a merge's inputs to copy or decode and encode again.
func writePartSegs(fsys fileSystem, dir string, src segSource, level zLevel) (info partInfo, err error) {
	if err := fsys.MkdirAll(dir); err != nil {
		return info, fmt.Errorf("create part dir: %w", err)
	}
	data, err := newCountingWriter(fsys, filepath.Join(dir, fileData))
	if err != nil {
		return info, err
	}
	bloom, err := newCountingWriter(fsys, filepath.Join(dir, fileBloom))
	if err != nil {
		data.f.Close()
		return info, err
	}
	closeAll := func() { data.f.Close(); bloom.f.Close() }
	sink := partSink{data, bloom}
	bb := blockBuilderPool.Get().(*blockBuilder)
	defer blockBuilderPool.Put(bb)
	bb.level = level

	var blocks []blockHeader
	var traces []traceEntry
	info.MinTime, info.MaxTime = int64(1<<63-1), int64(-1<<63)
	var streams []*stream
	for {
		st, segs, ok, err := src()
		if err != nil {
			closeAll()
			return info, err
		}
		if !ok {
			break
		}
		if len(segs) == 0 || len(segs) == 1 && !segs[0].copy && len(segs[0].rows) == 0 && len(segs[0].blocks) == 0 {
			continue
		}
		if len(streams) > 0 && streams[len(streams)-1].key >= st.key {
			closeAll()
			return info, fmt.Errorf("write part: streams out of order")
		}
		si := len(streams)
		streams = append(streams, st)
		addBlock := func(bh blockHeader) {
			blocks = append(blocks, bh)
			info.Rows += int64(bh.rows)
			info.MinTime, info.MaxTime = min(info.MinTime, bh.minT), max(info.MaxTime, bh.maxT)
		}
		encode := func(rows []*model.Event) error {
			for len(rows) > 0 {
				n, size := 0, 0
				for n < len(rows) && n < maxBlockRows && size < maxBlockBytes {
					size += rows[n].Size()
					n++
				}
				bh, err := bb.build(rows[:n], uint32(si), sink)
				if err != nil {
					return fmt.Errorf("write block: %w", err)
				}
				bi := uint32(len(blocks))
				var last model.TraceID
				for _, r := range rows[:n] {
					if !r.TraceID.IsZero() && r.TraceID != last {
						traces = append(traces, traceEntry{tracePrefix(r.TraceID), bi})
						last = r.TraceID
					}
				}
				addBlock(bh)
				rows = rows[n:]
			}
			return nil
		}
		for _, sg := range segs {
			switch {
			case sg.cp == nil:
				err = encode(sg.rows)
			case !sg.copy:
				var rows []*model.Event
				if rows, err = sg.cp.decode(sg.blocks); err == nil {
					err = encode(rows)
				}
			default:
				var bh blockHeader
				bi := uint32(len(blocks))
				if bh, err = sg.cp.copyBlock(sg.blocks[0], uint32(si), sink); err == nil {
					traces, err = sg.cp.appendTraces(traces, sg.blocks[0], bi)
					addBlock(bh)
				}
			}
			if err != nil {
				break
			}
		}
		if err != nil {
			closeAll()
			return info, err
		}
	}
	if err := data.finish(); err != nil {
		bloom.f.Close()
		return info, fmt.Errorf("write %s: %w", fileData, err)
	}
	if err := bloom.finish(); err != nil {
		return info, fmt.Errorf("write %s: %w", fileBloom, err)
	}

	// Trace directory.
	slices.SortFunc(traces, func(a, b traceEntry) int {
		if a.prefix != b.prefix {
			return cmpInt(int64(a.prefix), int64(b.prefix))
		}
		return cmpInt(int64(a.block), int64(b.block))
	})
	traces = slices.Compact(traces)
	tw, err := newCountingWriter(fsys, filepath.Join(dir, fileTraces))
	if err != nil {
		return info, err
	}
	var chunks []traceChunk
	var buf []byte
	for i := 0; i < len(traces); i += traceChunkLen {
		buf = buf[:0]
		end := min(i+traceChunkLen, len(traces))
		prev := traces[i].prefix
		for _, e := range traces[i:end] {
			buf = binary.AppendUvarint(buf, uint64(e.prefix-prev))
			buf = binary.AppendUvarint(buf, uint64(e.block))
			prev = e.prefix
		}
		off, _ := tw.write(buf)
		chunks = append(chunks, traceChunk{first: traces[i].prefix, off: off, n: uint32(end - i), size: uint32(len(buf)),
			crc: crc32.Checksum(buf, castagnoli)})
	}
	if err := tw.finish(); err != nil {
		return info, fmt.Errorf("write %s: %w", fileTraces, err)
	}

	idx := marshalIndex(streams, blocks, chunks)
	f, err := fsys.Create(filepath.Join(dir, fileIndex))
	if err != nil {
		return info, fmt.Errorf("create %s: %w", fileIndex, err)
	}
	if _, err := f.Write(idx); err != nil {
		f.Close()
		return info, fmt.Errorf("write %s: %w", fileIndex, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return info, fmt.Errorf("sync %s: %w", fileIndex, err)
	}
	if err := f.Close(); err != nil {
		return info, fmt.Errorf("close %s: %w", fileIndex, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return info, fmt.Errorf("sync part dir: %w", err)
	}
	info.Blocks = len(blocks)
	info.Compact, info.Cold = level >= levelDefault, level == levelCold
	info.IndexBytes = int64(len(idx)) + int64(bloom.off) + int64(tw.off)
	info.Bytes = info.IndexBytes + int64(data.off)
	return info, nil
}

func marshalIndex(streams []*stream, blocks []blockHeader, chunks []traceChunk) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(streams)))
	for _, st := range streams {
		body = appendStr(body, st.tenant())
		body = append(body, byte(st.signal()))
		body = binary.AppendUvarint(body, uint64(st.labels.Len()))
		st.labels.Range(func(l labels.Label) {
			body = appendStr(body, l.Name)
			body = appendStr(body, l.Value)
		})
	}
	body = binary.AppendUvarint(body, uint64(len(blocks)))
	for i := range blocks {
		body = blocks[i].marshal(body)
	}
	body = binary.AppendUvarint(body, uint64(len(chunks)))
	for _, c := range chunks {
		body = binary.LittleEndian.AppendUint32(body, c.first)
		body = binary.AppendUvarint(body, c.off)
		body = binary.AppendUvarint(body, uint64(c.n))
		body = binary.AppendUvarint(body, uint64(c.size))
		body = binary.LittleEndian.AppendUint32(body, c.crc)
	}
	out := []byte(indexMagic)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = zstdEnc.EncodeAll(body, out)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// partIndex is a part's decoded index, with its block headers kept
// compact (colpack.go).
type partIndex struct {
	streams []*stream
	blocks  []blockRef
	// cols holds every block's packed column headers; names holds the
	// column names they refer to, nameIdx their indexes.
	cols    []byte
	names   []string
	nameIdx map[string]uint32
	// The blocks of stream i are streamStart[i] to streamStart[i+1]-1
	// (blocks are ordered by stream).
	streamStart []uint32
	chunks      []traceChunk
}

// streamBlocks returns the range of blocks holding stream si.
func (pi *partIndex) streamBlocks(si int) [2]uint32 {
	return [2]uint32{pi.streamStart[si], pi.streamStart[si+1]}
}

// blockStream returns the index of block bi's stream.
func (pi *partIndex) blockStream(bi uint32) uint32 {
	return uint32(sort.Search(len(pi.streams), func(s int) bool { return pi.streamStart[s+1] > bi }))
}

func unmarshalIndex(b []byte, res streamResolver) (*partIndex, error) {
	if len(b) < len(indexMagic)+8 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, fmt.Errorf("decode part index: bad magic or size")
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("decode part index: checksum mismatch")
	}
	rawLen := binary.LittleEndian.Uint32(b[len(indexMagic):])
	if rawLen > maxIndexRawBytes {
		return nil, fmt.Errorf("decode part index: raw size %d too large", rawLen)
	}
	// Indexes may be larger than a column (up to maxIndexRawBytes: a merge
	// of tens of millions of spans). Each gets a decoder of its own, dropped
	// after use: a shared decoder keeps a reference to the last output it
	// wrote, which would keep a whole decompressed index in memory.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxIndexRawBytes),
		zstd.IgnoreChecksum(true))
	if err != nil {
		return nil, fmt.Errorf("decode part index: %w", err)
	}
	defer dec.Close()
	body, err := dec.DecodeAll(b[len(indexMagic)+4:len(b)-4], make([]byte, 0, min(int(rawLen), 64*len(b)+4096)))
	if err != nil {
		return nil, fmt.Errorf("decode part index: %w", err)
	}
	if uint32(len(body)) != rawLen {
		return nil, fmt.Errorf("decode part index: size %d, header says %d", len(body), rawLen)
	}
	return parseIndexBody(body, res)
}

// parseIndexBody decodes an index body; streams are shared through res so
// every part and the head use one *stream per key.
func parseIndexBody(body []byte, res streamResolver) (*partIndex, error) {
	// Strings read from body are copied where they are kept (labels,
	// stream keys, packed column headers), so they may alias it.
	d := &decBuf{b: body, alias: true}
	pi := &partIndex{}
	ns := d.count(3, "stream count")
	pi.streams = make([]*stream, 0, ns)
	var sb labels.ScratchBuilder
	for range ns {
		tenant := d.str("stream tenant")
		sig := model.Signal(d.byte1("stream signal"))
		nl := d.count(2, "stream labels")
		sb.Reset()
		for range nl {
			sb.Add(d.str("label name"), d.str("label value"))
		}
		if d.err != nil {
			return nil, d.err
		}
		if !sig.Valid() {
			return nil, fmt.Errorf("decode part index: invalid signal %d", sig)
		}
		sb.Sort()
		key := appendStreamKey(nil, tenant, sig, sb.Labels())
		st, err := res.resolve(key)
		if err != nil {
			return nil, fmt.Errorf("decode part index: %w", err)
		}
		if len(pi.streams) > 0 && pi.streams[len(pi.streams)-1].key >= st.key {
			return nil, fmt.Errorf("decode part index: streams out of order")
		}
		pi.streams = append(pi.streams, st)
	}
	nb := d.count(8, "block count")
	pi.blocks = make([]blockRef, nb)
	pi.streamStart = make([]uint32, len(pi.streams)+1)
	// Packed headers take about a third of the index body's bytes.
	pk := colPacker{buf: make([]byte, 0, len(d.b)/3), nameIdx: map[string]uint32{}}
	var bh blockHeader
	prev := -1
	for i := range pi.blocks {
		bh.unmarshal(d)
		if d.err != nil {
			return nil, d.err
		}
		ref := &pi.blocks[i]
		ref.rows, ref.minT, ref.maxT = bh.rows, bh.minT, bh.maxT
		var err error
		if ref.colsAt, err = pk.pack(&bh); err != nil {
			return nil, fmt.Errorf("decode part index: %w", err)
		}
		s := int(bh.stream)
		if s >= len(pi.streams) || s < prev {
			return nil, fmt.Errorf("decode part index: block %d has stream %d out of order", i, s)
		}
		prev = s
		pi.streamStart[s+1]++
	}
	for s := range pi.streams {
		pi.streamStart[s+1] += pi.streamStart[s]
	}
	nc := d.count(11, "trace chunks")
	pi.chunks = make([]traceChunk, nc)
	for i := range pi.chunks {
		c := &pi.chunks[i]
		c.first = d.u32("trace chunk prefix")
		c.off = d.uvarint("trace chunk offset")
		c.n = uint32(d.uvarint("trace chunk entries"))
		c.size = uint32(d.uvarint("trace chunk size"))
		c.crc = d.u32("trace chunk crc")
		if d.err == nil && (c.n == 0 || c.n > traceChunkLen || c.size < 2*c.n || c.size > 20*c.n) {
			return nil, fmt.Errorf("decode part index: trace chunk of %d entries in %d bytes", c.n, c.size)
		}
		if d.err == nil && i > 0 && c.first < pi.chunks[i-1].first {
			return nil, fmt.Errorf("decode part index: trace chunks out of order")
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("decode part index: %d trailing bytes", len(d.b))
	}
	pi.cols, pi.names, pi.nameIdx = slices.Clip(pk.buf), slices.Clip(pk.names), pk.nameIdx
	if cap(pk.buf) > len(pk.buf)+len(pk.buf)/8 {
		pi.cols = slices.Clone(pk.buf)
	}
	return pi, nil
}

// part is an open, immutable on-disk part.
type part struct {
	info partInfo
	dir  string
	idx  *partIndex
	// postings (label name → its values' streams) are built on first use.
	postingsOnce sync.Once
	postings     map[string]*valuePostings
	data         *os.File
	bloom        *os.File
	trace        *os.File
	// blooms maps bloom.bin: a probe touches only the words it needs.
	blooms []byte
}

func openPart(dir string, info partInfo, res streamResolver) (p *part, err error) {
	b, err := os.ReadFile(filepath.Join(dir, fileIndex))
	if err != nil {
		return nil, fmt.Errorf("open part %s: %w", info.ID, err)
	}
	idx, err := unmarshalIndex(b, res)
	if err != nil {
		return nil, fmt.Errorf("open part %s: %w", info.ID, err)
	}
	p = &part{info: info, dir: dir, idx: idx}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.data, err = os.Open(filepath.Join(dir, fileData)); err != nil {
		return nil, fmt.Errorf("open part %s: %w", info.ID, err)
	}
	if p.bloom, err = os.Open(filepath.Join(dir, fileBloom)); err != nil {
		return nil, fmt.Errorf("open part %s: %w", info.ID, err)
	}
	if p.blooms, err = mapFile(p.bloom); err != nil {
		return nil, fmt.Errorf("open part %s: %w", info.ID, err)
	}
	if p.trace, err = os.Open(filepath.Join(dir, fileTraces)); err != nil {
		return nil, fmt.Errorf("open part %s: %w", info.ID, err)
	}
	return p, nil
}

func (p *part) close() {
	unmapFile(p.blooms)
	p.blooms = nil
	for _, f := range []*os.File{p.data, p.bloom, p.trace} {
		if f != nil {
			f.Close()
		}
	}
}

// readColumn reads a column's stored data (nil when it has none).
func (p *part) readColumn(c *columnHeader) ([]byte, error) {
	if c.dataLen == 0 {
		return nil, nil
	}
	if c.dataLen > maxColumnRaw {
		return nil, fmt.Errorf("read column %q of part %s: length %d too large", c.name, p.info.ID, c.dataLen)
	}
	buf := make([]byte, c.dataLen)
	if _, err := p.data.ReadAt(buf, int64(c.dataOff)); err != nil {
		return nil, fmt.Errorf("read column %q of part %s: %w", c.name, p.info.ID, err)
	}
	return buf, nil
}

func columnBytes(buf []byte, base uint64, c *columnHeader) ([]byte, error) {
	if c.dataLen == 0 {
		return nil, nil
	}
	if c.dataOff < base || c.dataOff-base+uint64(c.dataLen) > uint64(len(buf)) {
		return nil, fmt.Errorf("column %q data outside its block", c.name)
	}
	s := c.dataOff - base
	return buf[s : s+uint64(c.dataLen)], nil
}

// readBloom returns column c's bloom filter (aliasing the mapped file).
func (p *part) readBloom(c *columnHeader) ([]byte, error) {
	end := c.bloomOff + uint64(c.bloomLen)
	if end < c.bloomOff || end > uint64(len(p.blooms)) {
		return nil, fmt.Errorf("read bloom of part %s: range %d+%d outside bloom.bin", p.info.ID, c.bloomOff, c.bloomLen)
	}
	b := p.blooms[c.bloomOff:end:end]
	if err := bloomCheck(b); err != nil {
		return nil, fmt.Errorf("read bloom of part %s: %w", p.info.ID, err)
	}
	return b, nil
}

// traceBlocks returns the blocks that may hold rows of trace id (those
// holding a trace with the same 4-byte prefix).
func (p *part) traceBlocks(id model.TraceID) ([]uint32, error) {
	ch := p.idx.chunks
	pre := tracePrefix(id)
	// Chunks are sorted by first prefix; entries with pre may start in the
	// last chunk whose first prefix is < pre, or in chunks starting at pre.
	i := sort.Search(len(ch), func(i int) bool { return ch[i].first >= pre })
	var out []uint32
	for j := max(i-1, 0); j < len(ch) && ch[j].first <= pre; j++ {
		c := ch[j]
		buf := make([]byte, c.size)
		if _, err := p.trace.ReadAt(buf, int64(c.off)); err != nil {
			return nil, fmt.Errorf("read trace directory of part %s: %w", p.info.ID, err)
		}
		if crc32.Checksum(buf, castagnoli) != c.crc {
			return nil, fmt.Errorf("read trace directory of part %s: checksum mismatch", p.info.ID)
		}
		var err error
		if out, err = decodeTraceChunk(out, buf, c, len(p.idx.blocks), pre); err != nil {
			return nil, fmt.Errorf("read trace directory of part %s: %w", p.info.ID, err)
		}
	}
	return slices.Compact(out), nil
}

// decodeTraceChunk appends the blocks of chunk c's entries whose prefix is
// pre; blocks must be below nblocks.
func decodeTraceChunk(dst []uint32, buf []byte, c traceChunk, nblocks int, pre uint32) ([]uint32, error) {
	d := &decBuf{b: buf}
	cur := c.first
	for range c.n {
		cur += uint32(d.uvarint("trace entry prefix"))
		b := d.uvarint("trace entry block")
		if d.err != nil {
			return nil, d.err
		}
		if b >= uint64(nblocks) {
			return nil, fmt.Errorf("decode trace chunk: block %d out of range", b)
		}
		if cur == pre {
			dst = append(dst, uint32(b))
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("decode trace chunk: %d trailing bytes", len(d.b))
	}
	return dst, nil
}

// valuePostings lists a part's streams by the value of one label: values
// are sorted and the ascending indexes of the streams holding values[i]
// are ids[start[i]:start[i+1]]. Flat arrays rather than a map per label:
// they stay for the part's life and a label such as a service name has a
// value per stream (24 bytes per stream and label, a map took 60).
type valuePostings struct {
	values []string // sharing the streams' label memory
	start  []uint32
	ids    []uint32
}

// streams returns the indexes of the streams whose label is v.
func (vp *valuePostings) streams(v string) []uint32 {
	if vp == nil {
		return nil
	}
	i, ok := slices.BinarySearch(vp.values, v)
	if !ok {
		return nil
	}
	return vp.ids[vp.start[i]:vp.start[i+1]]
}

func (p *part) labelPostings() map[string]*valuePostings {
	p.postingsOnce.Do(func() {
		type pair struct {
			value string
			id    uint32
		}
		byName := map[string][]pair{}
		for i, st := range p.idx.streams {
			st.labels.Range(func(l labels.Label) {
				byName[l.Name] = append(byName[l.Name], pair{l.Value, uint32(i)})
			})
		}
		m := make(map[string]*valuePostings, len(byName))
		for name, ps := range byName {
			// Stable: each value's streams stay in ascending order.
			slices.SortStableFunc(ps, func(a, b pair) int { return strings.Compare(a.value, b.value) })
			n := 1
			for i := 1; i < len(ps); i++ {
				if ps[i].value != ps[i-1].value {
					n++
				}
			}
			vp := &valuePostings{values: make([]string, 0, n), start: make([]uint32, 0, n+1), ids: make([]uint32, len(ps))}
			for i, pr := range ps {
				if i == 0 || pr.value != ps[i-1].value {
					vp.values = append(vp.values, pr.value)
					vp.start = append(vp.start, uint32(i))
				}
				vp.ids[i] = pr.id
			}
			vp.start = append(vp.start, uint32(len(ps)))
			m[name] = vp
		}
		p.postings = m
	})
	return p.postings
}

// matchingStreams returns the indexes of the part's streams whose labels
// satisfy every matcher (nil means the matchers could not narrow the set
// and every stream must be checked). Matchers that do not match the empty
// string select through postings: = by lookup, =~ by the label's values;
// the caller still checks every matcher on the result.
func (p *part) matchingStreams(ms []*labels.Matcher) []uint32 {
	var out []uint32
	narrowed := false
	for _, m := range ms {
		if m.Matches("") {
			continue // also matches streams without the label: no postings
		}
		vp := p.labelPostings()[m.Name]
		var set []uint32
		if m.Type == labels.MatchEqual {
			set = vp.streams(m.Value)
		} else if vp != nil {
			for i, v := range vp.values {
				if m.Matches(v) {
					set = append(set, vp.ids[vp.start[i]:vp.start[i+1]]...)
				}
			}
			slices.Sort(set)
		}
		if !narrowed {
			out, narrowed = slices.Clone(set), true
		} else {
			out = intersectSorted(out, set)
		}
		if len(out) == 0 {
			return []uint32{}
		}
	}
	if !narrowed {
		return nil
	}
	return out
}

func intersectSorted(a, b []uint32) []uint32 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
