package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
)

func newTestNotifier(t *testing.T, conf string) (*Notifier, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	n, err := New(Options{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	c, err := amconfig.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ApplyConfig(Config{Alertmanager: c}); err != nil {
		t.Fatal(err)
	}
	return n, reg
}

func firing(name string) *notifier.Alert {
	return &notifier.Alert{
		Labels:       labels.FromStrings("alertname", name, "service", "checkout"),
		Annotations:  labels.FromStrings("summary", name+" is firing"),
		StartsAt:     time.Now(),
		EndsAt:       time.Now().Add(time.Hour),
		GeneratorURL: "http://sightline/graph?q=up",
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSlackReceiver(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("slack body %s", b)
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	n, _ := newTestNotifier(t, fmt.Sprintf(`route: {receiver: s, group_wait: 10ms}
receivers:
- name: s
  slack_configs:
  - api_url: %s/services/x
    channel: '#alerts'
    title: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.service }}'
`, srv.URL))
	n.Send(firing("Down"))
	waitFor(t, "slack message", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) > 0 })
	mu.Lock()
	defer mu.Unlock()
	m := bodies[0]
	att, _ := m["attachments"].([]any)
	if m["channel"] != "#alerts" || len(att) != 1 || att[0].(map[string]any)["title"] != "Down on checkout" {
		t.Errorf("slack payload %v", m)
	}
}

func TestEmailReceiverSTARTTLS(t *testing.T) {
	smtp := startSMTP(t)
	n, _ := newTestNotifier(t, fmt.Sprintf(`route: {receiver: m, group_wait: 10ms}
receivers:
- name: m
  email_configs:
  - to: oncall@example.com
    from: sightline@example.com
    smarthost: %s
    hello: sightline.test
    tls_config: {insecure_skip_verify: true}
`, smtp.addr))
	n.Send(firing("DiskFull"))
	waitFor(t, "e-mail", func() bool { return smtp.count() > 0 })
	m := smtp.get(0)
	if !m.tls {
		t.Error("mail sent without STARTTLS")
	}
	if m.from != "<sightline@example.com>" || m.to != "<oncall@example.com>" {
		t.Errorf("envelope %q → %q", m.from, m.to)
	}
	if !strings.Contains(m.data, "Subject:") || !strings.Contains(m.data, "DiskFull") {
		t.Errorf("message lacks subject or alert name:\n%s", m.data)
	}
}

func TestFailedDeliveryIsRetriedAndCounted(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c < 3 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried with backoff
			return
		}
	}))
	defer srv.Close()
	n, reg := newTestNotifier(t, fmt.Sprintf(`route: {receiver: w, group_wait: 10ms}
receivers:
- name: w
  webhook_configs: [{url: %q}]
`, srv.URL))
	n.Send(firing("Flaky"))
	waitFor(t, "delivery after retries", func() bool { mu.Lock(); defer mu.Unlock(); return calls >= 3 })
	waitFor(t, "failed requests counted", func() bool {
		return counterSum(t, reg, "alertmanager_notification_requests_failed_total") == 2 &&
			counterSum(t, reg, "alertmanager_notifications_total") == 1 &&
			counterSum(t, reg, "alertmanager_notifications_failed_total") == 0
	})
}

func TestUnsupportedReceiverIsRefused(t *testing.T) {
	n, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	c, err := amconfig.Load("route: {receiver: p}\nreceivers:\n- name: p\n  pagerduty_configs: [{routing_key: abc}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ApplyConfig(Config{Alertmanager: c}); err == nil || !strings.Contains(err.Error(), "pagerduty_configs") {
		t.Fatalf("got %v", err)
	}
}

// counterSum sums a counter family across its label values.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// smtpServer is a minimal SMTP server with STARTTLS for tests.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []smtpMsg
}

type smtpMsg struct {
	tls            bool
	from, to, data string
}

func (s *smtpServer) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.msgs) }
func (s *smtpServer) get(i int) smtpMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[i]
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	cert := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn, tc *tls.Config) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n"); w.Flush() }
	say("220 test ESMTP")
	var m smtpMsg
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
		switch {
		case verb == "EHLO":
			if m.tls {
				say("250-test\r\n250 8BITMIME")
			} else {
				say("250-test\r\n250-8BITMIME\r\n250 STARTTLS")
			}
		case verb == "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, tc)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
			m.tls = true
		case strings.HasPrefix(strings.ToUpper(cmd), "MAIL FROM:"):
			m.from = strings.TrimSpace(strings.SplitN(cmd[len("MAIL FROM:"):], " ", 2)[0])
			say("250 ok")
		case strings.HasPrefix(strings.ToUpper(cmd), "RCPT TO:"):
			m.to = strings.TrimSpace(cmd[len("RCPT TO:"):])
			say("250 ok")
		case verb == "DATA":
			say("354 end with .")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			m.data = b.String()
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			say("250 queued")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestApplyConfigKeepsNotificationState(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	defer srv.Close()
	conf := fmt.Sprintf("route: {receiver: w, group_wait: 10ms, group_interval: 100ms, repeat_interval: 1h}\nreceivers:\n- name: w\n  webhook_configs: [{url: %q}]\n", srv.URL)
	n, _ := newTestNotifier(t, conf)
	a := firing("Steady")
	n.Send(a)
	waitFor(t, "first notification", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 })
	c, _ := amconfig.Load(conf)
	for range 3 {
		if err := n.ApplyConfig(Config{Alertmanager: c}); err != nil {
			t.Fatal(err)
		}
		n.Send(a) // the rules engine re-sends firing alerts
		time.Sleep(300 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("reloads re-notified: %d calls", calls)
	}
}

func TestForwardToExternalAlertmanager(t *testing.T) {
	got := make(chan []map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		var as []map[string]any
		json.NewDecoder(r.Body).Decode(&as)
		got <- as
	}))
	defer srv.Close()
	pc, err := promconfig.Load(fmt.Sprintf("global: {external_labels: {cluster: eu1}}\nalerting:\n  alertmanagers:\n  - static_configs: [{targets: [%q]}]\n", strings.TrimPrefix(srv.URL, "http://")), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	n, err := New(Options{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := n.ApplyConfig(Config{External: pc}); err != nil {
		t.Fatal(err)
	}
	n.Send(firing("Forwarded"))
	select {
	case as := <-got:
		if len(as) != 1 {
			t.Fatalf("alerts %v", as)
		}
		ls, _ := as[0]["labels"].(map[string]any)
		if ls["alertname"] != "Forwarded" || ls["cluster"] != "eu1" || as[0]["generatorURL"] != "http://sightline/graph?q=up" {
			t.Errorf("forwarded %v", as[0])
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nothing forwarded")
	}
	waitFor(t, "prometheus_notifications_sent_total", func() bool {
		return counterSum(t, reg, "prometheus_notifications_sent_total") >= 1
	})
}
