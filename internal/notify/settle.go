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
// moment closes that gap. A warning that really keeps firing is unmuted
// this much later, so it goes out with the first flush of its group after
// that.
const inhibitSettle = time.Second

// settledAlerts is the alert provider the inhibitor reads: the same alerts,
// with resolutions delivered after a settle delay.
type settledAlerts struct {
	provider.Alerts
	settle time.Duration
}

func (s settledAlerts) Subscribe(name string) provider.AlertIterator {
	return newSettlingIterator(s.Alerts.Subscribe(name), nil, s.settle)
}

// SlurpAndSubscribe holds back the resolved alerts among the initial ones
// too, so a configuration reload does not lift an inhibition early.
func (s settledAlerts) SlurpAndSubscribe(name string) ([]*types.Alert, provider.AlertIterator) {
	initial, it := s.Alerts.SlurpAndSubscribe(name)
	var firing, resolved []*types.Alert
	for _, a := range initial {
		if a.Resolved() {
			resolved = append(resolved, a)
		} else {
			firing = append(firing, a)
		}
	}
	return firing, newSettlingIterator(it, resolved, s.settle)
}

// settlingIterator passes firing alerts on at once and resolved ones after
// the settle delay, unless a firing update of the same alert went out in
// the meantime (a stale resolution must not overwrite it). A resolution
// sent again while held replaces the held one without restarting its
// delay, so resolutions re-sent often are still delivered.
type settlingIterator struct {
	in     provider.AlertIterator
	out    chan *provider.Alert
	done   chan struct{}
	settle time.Duration
}

type heldAlert struct {
	at time.Time
	a  *provider.Alert // nil once a firing update superseded it
}

func newSettlingIterator(in provider.AlertIterator, resolved []*types.Alert, settle time.Duration) *settlingIterator {
	it := &settlingIterator{in: in, out: make(chan *provider.Alert), done: make(chan struct{}), settle: settle}
	go it.run(resolved)
	return it
}

func (it *settlingIterator) run(initial []*types.Alert) {
	var (
		held    []*heldAlert // in arrival order, so release times ascend
		pending = map[model.Fingerprint]*heldAlert{}
		timer   = time.NewTimer(time.Hour)
		in      = it.in.Next()
	)
	timer.Stop()
	defer timer.Stop()
	hold := func(a *provider.Alert) {
		fp := a.Data.Fingerprint()
		if h := pending[fp]; h != nil {
			h.a = a
			return
		}
		h := &heldAlert{at: time.Now().Add(it.settle), a: a}
		pending[fp] = h
		held = append(held, h)
		if len(held) == 1 {
			timer.Reset(it.settle)
		}
	}
	for _, a := range initial {
		hold(&provider.Alert{Data: a})
	}
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
		case a, ok := <-in:
			if !ok {
				// The provider ended the subscription. Its reader expects
				// alerts only until it closes us, so stop reading but keep
				// releasing what is held.
				in = nil
				continue
			}
			if a.Data.Resolved() {
				hold(a)
				continue
			}
			fp := a.Data.Fingerprint()
			if h := pending[fp]; h != nil {
				h.a = nil
				delete(pending, fp)
			}
			if !send(a) {
				return
			}
		case <-timer.C:
			now := time.Now()
			for len(held) > 0 && !held[0].at.After(now) {
				h := held[0]
				held = held[1:]
				if h.a == nil {
					continue
				}
				delete(pending, h.a.Data.Fingerprint())
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
