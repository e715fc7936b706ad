package notify

import (
	"time"

	"github.com/prometheus/alertmanager/provider"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
)

// inhibitSettle is how long a resolved alert keeps inhibiting others.
//
// The rules engine sends the alerts of one group evaluation together, so
// a critical alert and the warning it inhibits resolve in one batch. The
// inhibitor and the dispatcher read that batch on separate goroutines,
// though: if the inhibitor learns that the critical alert resolved before
// the dispatcher learns that the warning did, a group flush in between
// sends the warning as firing (prometheus/alertmanager#2229 describes the
// same race). Holding a source's resolution back from the inhibitor for a
// moment closes that gap. A warning that really keeps firing is notified
// at most this much later, far below any group interval.
const inhibitSettle = time.Second

// settledAlerts is the alert provider the inhibitor reads: the same alerts,
// with resolutions delivered after a settle delay.
type settledAlerts struct {
	provider.Alerts
	settle time.Duration
}

func (s settledAlerts) Subscribe(name string) provider.AlertIterator {
	return newSettlingIterator(s.Alerts.Subscribe(name), s.settle)
}

func (s settledAlerts) SlurpAndSubscribe(name string) ([]*types.Alert, provider.AlertIterator) {
	initial, it := s.Alerts.SlurpAndSubscribe(name)
	return initial, newSettlingIterator(it, s.settle)
}

// settlingIterator passes firing alerts on at once and resolved ones after
// the settle delay, unless a newer update of the same alert went out in
// the meantime (a stale resolution must not overwrite it).
type settlingIterator struct {
	in     provider.AlertIterator
	out    chan *provider.Alert
	done   chan struct{}
	settle time.Duration
}

type heldAlert struct {
	at  time.Time
	seq uint64
	a   *provider.Alert
}

func newSettlingIterator(in provider.AlertIterator, settle time.Duration) *settlingIterator {
	it := &settlingIterator{in: in, out: make(chan *provider.Alert), done: make(chan struct{}), settle: settle}
	go it.run()
	return it
}

func (it *settlingIterator) run() {
	defer close(it.out)
	var (
		held []heldAlert // in arrival order, so release times ascend
		// latest is the sequence number of each held alert's newest
		// resolution; a firing update removes its entry.
		latest = map[model.Fingerprint]uint64{}
		seq    uint64
		timer  = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	send := func(a *provider.Alert) bool {
		select {
		case it.out <- a:
			return true
		case <-it.done:
			return false
		}
	}
	for {
		select {
		case <-it.done:
			return
		case a, ok := <-it.in.Next():
			if !ok {
				return
			}
			seq++
			fp := a.Data.Fingerprint()
			if !a.Data.Resolved() {
				delete(latest, fp)
				if !send(a) {
					return
				}
				continue
			}
			latest[fp] = seq
			held = append(held, heldAlert{at: time.Now().Add(it.settle), seq: seq, a: a})
			if len(held) == 1 {
				timer.Reset(it.settle)
			}
		case <-timer.C:
			now := time.Now()
			for len(held) > 0 && !held[0].at.After(now) {
				h := held[0]
				held = held[1:]
				fp := h.a.Data.Fingerprint()
				if latest[fp] != h.seq {
					continue
				}
				delete(latest, fp)
				if !send(h.a) {
					return
				}
			}
			if len(held) > 0 {
				timer.Reset(time.Until(held[0].at))
			}
		}
	}
}

func (it *settlingIterator) Next() <-chan *provider.Alert { return it.out }

func (it *settlingIterator) Err() error { return it.in.Err() }

func (it *settlingIterator) Close() {
	close(it.done)
	it.in.Close()
}
