package eventstore

import (
	"fmt"
	"slices"
	"time"

	"github.com/sightline/sightline/internal/model"
)

// mergeOnce merges the smallest parts of the day partition with the most
// parts, when it has at least MergeMinParts. It reports whether it merged.
// After a failed merge, merges pause (1 minute, doubling up to an hour) so
// a merge that cannot succeed does not rewrite gigabytes every second.
func (s *Store) mergeOnce() error {
	s.mergeMu.Lock()
	hold := s.mergeHold
	s.mergeMu.Unlock()
	if s.opts.Now().Before(hold) {
		return nil
	}
	_, err := s.merge(s.opts.MergeMinParts, false)
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
	info, err := s.writePart(id, day, mergeSource(refs), false)
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
	return true, nil
}

// mergeSource yields the union of the parts' streams in key order, each
// with all its rows sorted by time.
func mergeSource(refs []*partRef) groupSource {
	type ent struct {
		key  string
		part int
		si   int
	}
	var ents []ent
	for pi, r := range refs {
		for si, st := range r.p.idx.streams {
			ents = append(ents, ent{st.key, pi, si})
		}
	}
	slices.SortStableFunc(ents, func(a, b ent) int { return cmpStr(a.key, b.key) })
	i := 0
	return func() (streamRows, bool, error) {
		if i >= len(ents) {
			return streamRows{}, false, nil
		}
		j := i
		var g streamRows
		for ; j < len(ents) && ents[j].key == ents[i].key; j++ {
			pt := refs[ents[j].part].p
			st := pt.idx.streams[ents[j].si]
			if g.st == nil {
				g.st = st
			}
			rng := pt.idx.streamBlocks[ents[j].si]
			for bi := rng[0]; bi < rng[1]; bi++ {
				lb, err := loadBlock(&candidate{st: st, part: pt, bh: &pt.idx.blocks[bi]})
				if err != nil {
					return g, false, err
				}
				evs := make([]model.Event, lb.bh.rows)
				for r := range evs {
					if evs[r], err = lb.event(r); err != nil {
						return g, false, err
					}
					g.rows = append(g.rows, &evs[r])
				}
			}
		}
		i = j
		slices.SortStableFunc(g.rows, func(a, b *model.Event) int { return cmpInt(a.Time, b.Time) })
		return g, true, nil
	}
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
