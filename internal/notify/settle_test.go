package notify

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/provider"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
)

// hookLog records what a webhook receiver got, as "alertname:status".
type hookLog struct {
	mu  sync.Mutex
	got []string
}

func (h *hookLog) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range m.Alerts {
			h.got = append(h.got, a.Labels["alertname"]+":"+a.Status)
		}
	})
}

func (h *hookLog) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

func (h *hookLog) has(s string) bool {
	for _, g := range h.list() {
		if g == s {
			return true
		}
	}
	return false
}

const inhibitConf = `route: {receiver: w, group_by: [alertname], group_wait: 10ms, group_interval: 50ms, repeat_interval: 1h}
receivers:
- name: w
  webhook_configs: [{url: %q, send_resolved: true}]
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [service]
`

func severe(name, severity string) *notifier.Alert {
	a := firing(name)
	a.Labels = labels.FromStrings("alertname", name, "service", "checkout", "severity", severity)
	return a
}

func resolved(a *notifier.Alert) *notifier.Alert {
	r := *a
	r.EndsAt = time.Now()
	return &r
}

// inhibitedWarning starts a notifier with inhibitConf and a webhook, sends
// a critical alert and the warning it inhibits, and waits for the
// critical one's notification.
func inhibitedWarning(t *testing.T) (n *Notifier, h *hookLog, crit, warn *notifier.Alert) {
	t.Helper()
	h = &hookLog{}
	srv := httptest.NewServer(h.handler(t))
	t.Cleanup(srv.Close)
	n, _ = newTestNotifier(t, fmt.Sprintf(inhibitConf, srv.URL))
	crit, warn = severe("HighErrors", "critical"), severe("ErrorsWarning", "warning")
	n.Send(crit, warn)
	waitFor(t, "the critical notification", func() bool { return h.has("HighErrors:firing") })
	return n, h, crit, warn
}

// The inhibitor and the dispatcher read alerts on separate goroutines, so
// the dispatcher may learn of a warning's resolution a little after the
// inhibitor learnt that the critical alert inhibiting it resolved. The
// test makes that lag long (several group intervals): the warning must
// still never be notified as firing.
func TestInhibitedAlertResolvingJustAfterItsSourceIsNotNotified(t *testing.T) {
	n, h, crit, warn := inhibitedWarning(t)
	time.Sleep(200 * time.Millisecond)

	n.Send(resolved(crit))
	time.Sleep(300 * time.Millisecond) // six group intervals of the warning's group
	n.Send(resolved(warn))
	waitFor(t, "the critical resolution", func() bool { return h.has("HighErrors:resolved") })
	time.Sleep(inhibitSettle + 300*time.Millisecond)
	if got := h.list(); len(got) != 2 {
		t.Fatalf("notifications %v, want only HighErrors firing and resolved", got)
	}
}

// A warning that keeps firing after its critical alert resolved is
// notified, just held back by the settle delay.
func TestInhibitionLiftsAfterSourceResolves(t *testing.T) {
	n, h, crit, _ := inhibitedWarning(t)
	time.Sleep(200 * time.Millisecond)
	if h.has("ErrorsWarning:firing") {
		t.Fatal("inhibited warning was notified")
	}
	start := time.Now()
	n.Send(resolved(crit))
	waitFor(t, "the warning once its source resolved", func() bool { return h.has("ErrorsWarning:firing") })
	if d := time.Since(start); d < inhibitSettle/2 || d > inhibitSettle+2*time.Second {
		t.Errorf("warning notified %s after the critical resolved, want about %s", d, inhibitSettle)
	}
}

// A resolution held back must not overwrite a newer firing update of the
// same alert: the critical fires again inside the settle delay, so the
// warning stays inhibited.
func TestStaleResolutionDoesNotLiftInhibition(t *testing.T) {
	n, h, crit, _ := inhibitedWarning(t)
	n.Send(resolved(crit))
	time.Sleep(inhibitSettle / 4)
	again := *crit
	again.StartsAt = time.Now()
	n.Send(&again)
	time.Sleep(inhibitSettle + 500*time.Millisecond)
	if h.has("ErrorsWarning:firing") {
		t.Fatalf("warning notified although its source fired again: %v", h.list())
	}
}

// fakeIterator is a provider subscription fed by the test.
func fakeIterator() (provider.AlertIterator, chan *provider.Alert) {
	ch := make(chan *provider.Alert)
	return provider.NewAlertIterator(ch, make(chan struct{}), nil), ch
}

func providerAlert(name string, resolved bool) *provider.Alert {
	a := &types.Alert{Alert: model.Alert{Labels: model.LabelSet{"alertname": model.LabelValue(name)},
		StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour)}, UpdatedAt: time.Now()}
	if resolved {
		a.EndsAt = time.Now().Add(-time.Millisecond)
	}
	return &provider.Alert{Data: a}
}

// A resolution the rules engine sends again and again (a resend delay
// shorter than the settle delay) is still delivered about one settle
// delay after the first.
func TestRepeatedResolutionIsDelivered(t *testing.T) {
	in, ch := fakeIterator()
	const settle = 100 * time.Millisecond
	it := newSettlingIterator(in, nil, settle)
	defer it.Close()
	start := time.Now()
	go func() {
		for range 20 {
			ch <- providerAlert("a", true)
			time.Sleep(settle / 3)
		}
	}()
	select {
	case a := <-it.Next():
		if !a.Data.Resolved() {
			t.Fatal("got a firing alert")
		}
		if d := time.Since(start); d < settle || d > 3*settle {
			t.Errorf("resolution delivered after %s, want about %s", d, settle)
		}
	case <-time.After(10 * settle):
		t.Fatal("resolution re-sent faster than the settle delay was never delivered")
	}
}

// On a reload the new inhibitor starts from the stored alerts: resolved
// ones among them are held back as well.
func TestInitialResolvedAlertsAreHeld(t *testing.T) {
	in, _ := fakeIterator()
	const settle = 100 * time.Millisecond
	start := time.Now()
	it := newSettlingIterator(in, []*types.Alert{providerAlert("a", true).Data}, settle)
	defer it.Close()
	select {
	case a := <-it.Next():
		if d := time.Since(start); d < settle {
			t.Errorf("initial resolution delivered after %s, before the settle delay", d)
		}
		if a.Data.Labels["alertname"] != "a" {
			t.Errorf("delivered %v", a.Data.Labels)
		}
	case <-time.After(10 * settle):
		t.Fatal("initial resolution never delivered")
	}
}
