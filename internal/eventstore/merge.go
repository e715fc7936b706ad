package eventstore

import (
	"fmt"
	"slices"
	"time"

	"github.com/sightline/sightline/internal/model"
)

// mergeOnce merges the smallest parts of the day partition with the most
// parts, when it has at least MergeMinParts, or else compacts a quiet
// partition (compactOnce). After a failed merge, merges pause (1 minute,
// doubling up to an hour) so a merge that cannot succeed does not rewrite
// gigabytes every second.
func (s *Store) mergeOnce() error {
	s.mergeMu.Lock()
	hold := s.mergeHold
	s.mergeMu.Unlock()
	if s.opts.Now().Before(hold) {
		return nil
	}
	merged, err := s.merge(s.opts.MergeMinParts, false)
	if err == nil && !merged {
		_, err = s.compactOnce()
	}
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	if err != nil {
		s.mergeWait = min(max(2*s.mergeWait, time.Minute), time.Hour)
		s.mergeHold = s.opts.Now().Add(s.mergeWait)
		return fmt.Errorf("%w (merges paused for %s)", err, s.mergeWait)
	}
	s.mergeWait = 0
	return nil
}

// merge runs one merge if some partition has at least minParts parts. Unless
// all is set, only parts of similar size are merged (a part joins while it
// holds at most twice the rows of the largest one picked), so each row is
// rewritten a logarithmic number of times.
//
// The parts are chosen and the new part's id reserved under pubMu; the new
// part is written without it (flushes go on meanwhile); pubMu is taken again
// to publish, unless retention dropped an input in between.
func (s *Store) merge(minParts int, all bool) (bool, error) {
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	s.pubMu.Lock()
	byDay := map[string][]partInfo{}
	for _, p := range s.man.Parts {
		byDay[p.Day] = append(byDay[p.Day], p)
	}
	var day string
	for d, ps := range byDay {
		if len(ps) >= minParts && (day == "" || len(ps) > len(byDay[day])) {
			day = d
		}
	}
	if day == "" {
		s.pubMu.Unlock()
		return false, nil
	}
	cands := byDay[day]
	slices.SortFunc(cands, func(a, b partInfo) int { return cmpInt(a.Rows, b.Rows) })
	need := 2
	if !all {
		need = min(minParts, 3)
	}
	var pick []partInfo
	var rows int64
	// The first run of similar sizes, smallest first, with enough parts.
	for start := range cands {
		pick, rows = pick[:0], 0
		for _, p := range cands[start:] {
			if len(pick) >= s.opts.MaxMergeParts || (len(pick) >= 2 && rows+p.Rows > s.opts.MaxMergeRows) {
				break
			}
			if !all && len(pick) > 0 && p.Rows > 2*pick[len(pick)-1].Rows {
				break
			}
			pick = append(pick, p)
			rows += p.Rows
		}
		if len(pick) >= need {
			break
		}
	}
	if len(pick) < need {
		s.pubMu.Unlock()
		return false, nil
	}
	// Parts already compacted cold stay cold when merged with each other.
	level := levelCold
	for _, p := range pick {
		if !p.Cold {
			level = levelDefault
		}
	}
	return s.mergeParts(day, pick, rows, level)
}

// compactOnce rewrites, at the cold level (zLevel.encoder), the parts of
// one day partition that has received no new part for Options.ColdAfter
// and still holds parts below that level: the smallest first, as many as
// one merge takes. Head flushes write at the fastest level to keep ingest cheap and
// merges at the default; a partition that has gone quiet (yesterday's,
// after midnight) is read for weeks and written no more, so it is worth
// compressing harder once. It reports whether it wrote a part.
func (s *Store) compactOnce() (bool, error) {
	if s.opts.ColdAfter < 0 {
		return false, nil
	}
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	s.pubMu.Lock()
	now := s.opts.Now()
	byDay := map[string][]partInfo{}
	for _, p := range s.man.Parts {
		if !p.Cold {
			byDay[p.Day] = append(byDay[p.Day], p)
		}
	}
	var day string
	for d := range byDay {
		touched := s.opened
		if t, ok := s.dayWritten[d]; ok && t.After(touched) {
			touched = t
		}
		if now.Sub(touched) >= s.opts.ColdAfter && (day == "" || d < day) {
			day = d
		}
	}
	if day == "" {
		s.pubMu.Unlock()
		return false, nil
	}
	cands := byDay[day]
	slices.SortFunc(cands, func(a, b partInfo) int { return cmpInt(a.Rows, b.Rows) })
	var pick []partInfo
	var rows int64
	for _, p := range cands {
		if len(pick) >= s.opts.MaxMergeParts || (len(pick) >= 1 && rows+p.Rows > s.opts.MaxMergeRows) {
			break
		}
		pick = append(pick, p)
		rows += p.Rows
	}
	return s.mergeParts(day, pick, rows, levelCold)
}

// mergeParts writes the parts pick of day (rows in all) as one part at
// level and publishes it in their place. pubMu is held on entry and
// released; mergeMu is held throughout.
func (s *Store) mergeParts(day string, pick []partInfo, rows int64, level zLevel) (bool, error) {
	// Older parts first so rows with equal timestamps keep arrival order.
	slices.SortFunc(pick, func(a, b partInfo) int { return cmpStr(a.ID, b.ID) })
	ids := map[string]bool{}
	for _, p := range pick {
		ids[p.ID] = true
	}
	s.mu.RLock()
	var refs []*partRef
	for _, r := range s.parts {
		if ids[r.p.info.ID] {
			r.acquire()
			refs = append(refs, r)
		}
	}
	s.mu.RUnlock()
	defer func() {
		for _, r := range refs {
			r.release()
		}
	}()
	if len(refs) != len(pick) {
		s.pubMu.Unlock()
		return false, fmt.Errorf("merge parts: %d of %d parts open", len(refs), len(pick))
	}
	reserved := s.man
	id := s.reservePartID(&reserved)
	s.pubMu.Unlock()

	slices.SortFunc(refs, func(a, b *partRef) int { return cmpStr(a.p.info.ID, b.p.info.ID) })
	src, cp := mergeSource(refs, level)
	info, err := s.writePart(id, day, src, level)
	if err != nil {
		s.m.mergeFailures.Inc()
		return false, fmt.Errorf("merge parts: %w", err)
	}
	if info.Rows != rows {
		s.fs.RemoveAll(s.partDir(info))
		s.m.mergeFailures.Inc()
		return false, fmt.Errorf("merge parts: wrote %d rows of %d", info.Rows, rows)
	}
	newRefs, err := s.openParts([]partInfo{info})
	if err != nil {
		s.fs.RemoveAll(s.partDir(info))
		s.m.mergeFailures.Inc()
		return false, fmt.Errorf("merge parts: %w", err)
	}

	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	present := 0
	for _, p := range s.man.Parts {
		if ids[p.ID] {
			present++
		}
	}
	if present != len(ids) {
		// Retention dropped an input while the merge ran: its rows must not
		// come back through the merged part.
		newRefs[0].p.close()
		s.fs.RemoveAll(s.partDir(info))
		return false, nil
	}
	man := s.man
	man.Parts = slices.Clone(s.man.Parts)
	man.NextPartID = max(man.NextPartID, s.nextID)
	man.Parts = slices.DeleteFunc(man.Parts, func(p partInfo) bool { return ids[p.ID] })
	man.Parts = append(man.Parts, info)
	if err := s.publish(man); err != nil {
		newRefs[0].p.close()
		s.fs.RemoveAll(s.partDir(info))
		s.m.mergeFailures.Inc()
		return false, fmt.Errorf("merge parts: %w", err)
	}
	s.mu.Lock()
	s.parts = append(s.parts, newRefs...)
	s.mu.Unlock()
	s.dropParts(ids)
	s.m.merges.Inc()
	if level == levelCold {
		s.m.coldCompactions.Inc()
	}
	s.log.Debug("merged event parts", "parts", len(refs), "rows", info.Rows, "part", info.ID, "cold", info.Cold,
		"blocks_copied", cp.copied, "columns_recompressed", cp.recompressed, "blocks_reencoded", cp.reencoded)
	return true, nil
}

// mergeSource yields the union of the parts' streams in key order, each
// as segments in time order (planSegs), for a part written at level.
func mergeSource(refs []*partRef, level zLevel) (segSource, *blockCopier) {
	type ent struct {
		key  string
		part int
		si   int
	}
	parts := make([]*part, len(refs))
	var ents []ent
	for pi, r := range refs {
		parts[pi] = r.p
		for si, st := range r.p.idx.streams {
			ents = append(ents, ent{st.key, pi, si})
		}
	}
	slices.SortStableFunc(ents, func(a, b ent) int { return cmpStr(a.key, b.key) })
	cp := newBlockCopier(parts, level)
	i := 0
	return func() (*stream, []mergeSeg, bool, error) {
		if i >= len(ents) {
			return nil, nil, false, nil
		}
		j := i
		var st *stream
		var blks []srcBlock
		for ; j < len(ents) && ents[j].key == ents[i].key; j++ {
			pt := parts[ents[j].part]
			if st == nil {
				st = pt.idx.streams[ents[j].si]
			}
			rng := pt.idx.streamBlocks(ents[j].si)
			for bi := rng[0]; bi < rng[1]; bi++ {
				blks = append(blks, srcBlock{in: ents[j].part, bi: bi, small: smallBlock(pt.idx.blocks, rng, bi)})
			}
		}
		i = j
		return st, cp.planSegs(blks), true, nil
	}, cp
}

// mergeSeg is a piece of one stream of a part being written: rows to
// encode (head flushes; cp is nil), or, in a merge, one input block copied
// as it is (copy) or input blocks whose rows are decoded, sorted by time
// and encoded again.
type mergeSeg struct {
	rows   []*model.Event
	cp     *blockCopier
	copy   bool
	blocks []srcBlock
}

// maxRunRows bounds the rows a merge decodes at once for one segment.
const maxRunRows = 8 * maxBlockRows

// planSegs orders one stream's input blocks by time and decides, for each,
// whether encoding it again would make the part better. A block is copied
// unless its time range overlaps another input block's (their rows are
// sorted together into new blocks) or it is small (smallBlock) next to
// other small blocks (joined into fuller blocks). Blocks that merely touch
// (one's last timestamp is the next one's first) do not overlap.
func (c *blockCopier) planSegs(blks []srcBlock) []mergeSeg {
	hdr := func(b srcBlock) *blockRef { return &c.parts[b.in].idx.blocks[b.bi] }
	// Stable: blocks starting at the same time stay in input order.
	slices.SortStableFunc(blks, func(a, b srcBlock) int { return cmpInt(hdr(a).minT, hdr(b).minT) })
	var segs []mergeSeg
	var run []srcBlock
	runRows, runJoined := 0, false
	endRun := func() {
		switch {
		case len(run) == 1 && !runJoined:
			// A lone small block: encoding it alone would not make it fuller.
			segs = append(segs, mergeSeg{cp: c, copy: true, blocks: run})
		case len(run) > 0:
			segs = append(segs, mergeSeg{cp: c, blocks: run})
		}
		run, runRows, runJoined = nil, 0, false
	}
	for i := 0; i < len(blks); {
		j, end := i+1, hdr(blks[i]).maxT
		for j < len(blks) && hdr(blks[j]).minT < end {
			end = max(end, hdr(blks[j]).maxT)
			j++
		}
		cluster := blks[i:j]
		i = j
		if len(cluster) == 1 && !cluster[0].small {
			endRun()
			segs = append(segs, mergeSeg{cp: c, copy: true, blocks: []srcBlock{cluster[0]}})
			continue
		}
		rows := 0
		for _, b := range cluster {
			rows += int(hdr(b).rows)
		}
		if len(run) > 0 && runRows+rows > maxRunRows {
			endRun()
		}
		run = append(run, cluster...)
		runRows += rows
		runJoined = runJoined || len(cluster) > 1
	}
	endRun()
	return segs
}

// smallBlock reports whether block bi of a part, whose stream has blocks
// rng, may be filled up by joining it with other blocks. Only the last
// block of a stream in a part can be: a part is written with the stream's
// rows cut into blocks at the row or byte limit, so every other block is
// full. The last one counts as small when it holds under half the row
// limit and under half the rows of the block before it (if any).
func smallBlock(blocks []blockRef, rng [2]uint32, bi uint32) bool {
	if bi+1 < rng[1] || blocks[bi].rows >= maxBlockRows/2 {
		return false
	}
	return bi == rng[0] || blocks[bi].rows < blocks[bi-1].rows/2
}

// decode returns the rows of blocks sorted by time; rows with equal
// timestamps keep input order (older parts first).
func (c *blockCopier) decode(blocks []srcBlock) ([]*model.Event, error) {
	blocks = slices.Clone(blocks)
	slices.SortFunc(blocks, func(a, b srcBlock) int {
		if a.in != b.in {
			return a.in - b.in
		}
		return cmpInt(int64(a.bi), int64(b.bi))
	})
	n := 0
	for _, b := range blocks {
		n += int(c.parts[b.in].idx.blocks[b.bi].rows)
	}
	evs := make([]model.Event, 0, n)
	for _, b := range blocks {
		pt := c.parts[b.in]
		bh := &pt.idx.blocks[b.bi]
		lb, err := loadBlock(&candidate{st: pt.idx.streams[pt.idx.blockStream(b.bi)], part: pt, bh: bh})
		if err != nil {
			return nil, err
		}
		for r := range int(bh.rows) {
			ev, err := lb.event(r)
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev)
		}
	}
	rows := make([]*model.Event, len(evs))
	for i := range evs {
		rows[i] = &evs[i]
	}
	slices.SortStableFunc(rows, func(a, b *model.Event) int { return cmpInt(a.Time, b.Time) })
	c.reencoded += len(blocks)
	return rows, nil
}

// MergeAll merges each day partition's parts until one remains per
// partition (within the merge size limits). Background merging does this
// gradually; MergeAll is for offline compaction and benchmarks.
func (s *Store) MergeAll() error {
	for {
		merged, err := s.merge(2, true)
		if err != nil || !merged {
			return err
		}
	}
}
