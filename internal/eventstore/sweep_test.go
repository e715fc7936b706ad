package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/sightline/sightline/internal/model"
)

// podRows makes one log row per pod at time t, each pod its own stream.
func podRows(t int64, pods ...string) []model.Event {
	rows := make([]model.Event, len(pods))
	for i, p := range pods {
		rows[i] = model.Event{Tenant: "t1", Signal: model.SignalLog, Stream: labels.FromStrings("pod", p),
			Time: t, Body: "started " + p}
	}
	return rows
}

func pods(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// Pods come and go; each is a stream. Once retention deletes the last part
// holding a stream, the store forgets it, so its RAM follows the streams
// stored rather than every stream ever seen. Streams still in the head or
// a kept part stay, and a forgotten stream that logs again is stored anew.
func TestRetentionReleasesStreams(t *testing.T) {
	o := testOpts()
	now := baseTime.Add(time.Hour)
	var mu sync.Mutex
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.Retention = 10 * 24 * time.Hour
	s := openTest(t, t.TempDir(), o)
	defer s.Close()
	ctx := context.Background()
	day0 := baseTime.Add(time.Minute).UnixNano()
	// Day 0: 100 pods, flushed into day 0's partition.
	if err := s.Append(ctx, podRows(day0, pods("old", 100)...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// Eleven days later day 0 is outside retention. old-0 logs again
	// today, and 20 new pods too; old-1 lands in a part of today.
	mu.Lock()
	now = baseTime.Add(11*24*time.Hour + time.Hour)
	mu.Unlock()
	today := now.Add(-time.Minute).UnixNano()
	if err := s.Append(ctx, podRows(today, "old-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, podRows(today, append(pods("new", 20), "old-0")...)); err != nil {
		t.Fatal(err)
	}
	if got := s.streams.len(); got != 120 {
		t.Fatalf("%d streams registered before retention, want 120", got)
	}
	if err := s.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	// Kept: 20 new pods and old-0 in the head, old-1 in today's part.
	if got := s.streams.len(); got != 22 {
		t.Fatalf("%d streams registered after retention, want 22", got)
	}
	// A forgotten pod logs again; a kept one too. Nothing is lost or doubled.
	if err := s.Append(ctx, podRows(today+1, "old-2", "old-0", "new-3")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.MergeAll(); err != nil {
		t.Fatal(err)
	}
	count := func(pod string) int {
		return len(queryAll(t, s, Query{Tenant: "t1", Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "pod", pod)}}))
	}
	for pod, want := range map[string]int{"old-0": 2, "old-1": 1, "old-2": 1, "old-5": 0, "new-3": 2, "new-4": 1} {
		if got := count(pod); got != want {
			t.Errorf("pod %s: %d rows, want %d", pod, got, want)
		}
	}
	if got := s.streams.len(); got != 23 {
		t.Errorf("%d streams registered at the end, want 23", got)
	}
}

// Appends run while retention deletes days and the registry is swept:
// every acknowledged row of a kept day is found exactly once, and no flush
// or merge fails (an append holding a stream the sweep dropped would put
// two streams with one key into the head).
func TestSweepWhileAppending(t *testing.T) {
	o := testOpts()
	var clock atomic.Int64
	clock.Store(baseTime.Add(time.Hour).UnixNano())
	o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	o.Retention = 2 * 24 * time.Hour
	s := openTest(t, t.TempDir(), o)
	defer s.Close()
	ctx := context.Background()

	var (
		mu    sync.Mutex
		acked = map[int32]int{} // day → acknowledged rows
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				ts := clock.Load() - int64(time.Minute)
				ps := make([]string, 20)
				for i := range ps {
					// Pods live about a day: each half day brings new ones.
					ps[i] = fmt.Sprintf("pod-%d-%d", ts/int64(12*time.Hour)+int64(r.IntN(2)), r.IntN(100))
				}
				err := s.Append(ctx, podRows(ts, ps...))
				if errors.Is(err, ErrTooOld) || errors.Is(err, ErrOverloaded) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[dayOf(ts)] += len(ps)
				mu.Unlock()
			}
		}()
	}
	released := 0
	for range 12 {
		time.Sleep(20 * time.Millisecond)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		clock.Add(int64(12 * time.Hour))
		before := s.streams.len()
		if err := s.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		released += max(before-s.streams.len(), 0)
		if err := s.MergeAll(); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if err := s.MergeAll(); err != nil {
		t.Fatal(err)
	}
	if released == 0 {
		t.Error("no stream was ever released")
	}
	cutoff := dayOf(clock.Load() - int64(o.Retention))
	checked := 0
	for d, n := range acked {
		if d < cutoff {
			continue
		}
		rows := queryAll(t, s, Query{Tenant: "t1", Start: int64(d) * nsPerDay, End: int64(d+1) * nsPerDay})
		if len(rows) != n {
			t.Errorf("day %d: %d rows, %d acknowledged", d, len(rows), n)
		}
		checked += n
	}
	if checked == 0 {
		t.Fatal("no rows checked")
	}
}
