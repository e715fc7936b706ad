package syslog

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Message
	}{
		{`<34>1 2026-11-20T11:59:00.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8`,
			Message{Facility: 4, Severity: 2, Time: time.Date(2026, 11, 20, 11, 59, 0, 3e6, time.UTC), Hostname: "mymachine.example.com", AppName: "su", MsgID: "ID47", Text: "'su root' failed for lonvick on /dev/pts/8", RFC5424: true}},
		{`<165>1 2026-11-20T11:00:00Z host app 1234 - [exampleSDID@32473 iut="3" eventSource="Appl\"x\]"] An event`,
			Message{Facility: 20, Severity: 5, Time: time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC), Hostname: "host", AppName: "app", ProcID: "1234", StructuredData: map[string]string{"exampleSDID@32473.iut": "3", "exampleSDID@32473.eventSource": `Appl"x]`}, Text: "An event", RFC5424: true}},
		{`<13>1 - - - - - -`, Message{Facility: 1, Severity: 5, RFC5424: true}},
		{`<34>Oct 11 22:14:15 mymachine su[99]: 'su root' failed`,
			Message{Facility: 4, Severity: 2, Time: time.Date(2026, 10, 11, 22, 14, 15, 0, time.UTC), Hostname: "mymachine", AppName: "su", ProcID: "99", Text: "'su root' failed"}},
		{`<13>Dec  1 00:00:01 h cron: x`, // December read in November: last year
			Message{Facility: 1, Severity: 5, Time: time.Date(2025, 12, 1, 0, 0, 1, 0, time.UTC), Hostname: "h", AppName: "cron", Text: "x"}},
		{`<14>just some text`, Message{Facility: 1, Severity: 6, Text: "just some text"}},
	} {
		got, err := Parse([]byte(tc.in), now)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "no pri", "<999>1 x", "<1>1 notatime h a p m - x", `<1>1 - h a p m [id k="v`} {
		if _, err := Parse([]byte(bad), now); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

type memWriter struct {
	mu   sync.Mutex
	rows []model.Event
}

func (m *memWriter) Write(_ context.Context, rows []model.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, rows...)
	return nil
}

func (m *memWriter) bodies() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.rows {
		out = append(out, r.Body)
	}
	sort.Strings(out)
	return out
}

// serve starts a server on a free port storing into a fresh memWriter,
// with o's other settings and lines batched for at most 20 ms.
func serve(t *testing.T, o Options) (*Server, *memWriter) {
	t.Helper()
	w := &memWriter{}
	o.Addr, o.Writer, o.BatchDelay = "127.0.0.1:0", w, 20*time.Millisecond
	o.Schema, _ = logstore.NewSchema(logstore.Options{})
	srv, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() { srv.Stop() })
	return srv, w
}

func TestServerFramings(t *testing.T) {
	srv, w := serve(t, Options{})

	// Newline framing over TCP.
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "<14>1 2026-11-20T11:00:00Z h app - - - nl one\n<14>Nov 20 11:00:01 h app: nl two\n")
	c.Close()
	// Octet counting over TCP, with a newline inside a message.
	c, err = net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"<14>1 2026-11-20T11:00:02Z h app - - - oc one", "<14>1 2026-11-20T11:00:03Z h app - - - oc\ntwo"} {
		fmt.Fprintf(c, "%d %s", len(m), m)
	}
	c.Close()
	// UDP.
	u, err := net.Dial("udp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(u, "<11>1 2026-11-20T11:00:04Z h app - - - udp one")
	u.Close()

	want := fmt.Sprint([]string{"nl one", "nl two", "oc\ntwo", "oc one", "udp one"}) // sorted
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(w.bodies()) != want {
		if time.Now().After(deadline) {
			t.Fatalf("got %q, want %s", w.bodies(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.rows {
		if r.Stream.Get("service_name") != "app" {
			t.Errorf("stream %v", r.Stream)
		}
		if r.Body == "udp one" && r.Severity != "error" {
			t.Errorf("severity %q", r.Severity)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<165>1 2026-11-20T11:00:00Z host app 1234 - [a@1 k="v\"x"][b y="z"] msg`))
	f.Add([]byte(`<34>Oct 11 22:14:15 mymachine su[99]: 'su root' failed`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, now)
		if err != nil {
			return
		}
		if m.Severity < 0 || m.Severity > 7 || m.Facility < 0 || m.Facility > 23 {
			t.Fatalf("pri out of range: %+v", m)
		}
	})
}

// closedByServer reports whether the server closes c within d (an EOF, or
// a reset when it closed with data of ours unread).
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

// A peer cannot make the server buffer without bound or hold connections
// forever: a length prefix of endless digits ends the connection, as do a
// connection beyond MaxConnections and one idle for IdleTimeout; a
// well-behaved peer is served meanwhile.
func TestServerBoundsPeers(t *testing.T) {
	srv, w := serve(t, Options{MaxConnections: 2, IdleTimeout: 300 * time.Millisecond})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	digits := dial()
	go func() {
		b := []byte(strings.Repeat("1", 64<<10))
		for range 64 { // 4 MiB of digits and never a space
			if _, err := digits.Write(b); err != nil {
				return
			}
		}
	}()
	if !closedByServer(digits, 2*time.Second) {
		t.Error("a length prefix without end did not close the connection")
	}

	good := dial()
	other := dial()
	time.Sleep(50 * time.Millisecond) // both accepted
	if !closedByServer(dial(), time.Second) {
		t.Error("a connection beyond MaxConnections was kept")
	}
	m := "<14>1 2026-11-20T11:00:02Z h app - - - kept"
	fmt.Fprintf(good, "%d %s", len(m), m)
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(w.bodies()) != "[kept]" {
		if time.Now().After(deadline) {
			t.Fatalf("got %q from the well-behaved peer", w.bodies())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !closedByServer(other, 2*time.Second) {
		t.Error("an idle connection was kept past IdleTimeout")
	}
}

func TestReadOctetCountedLength(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		lenErr   bool // refused for its length prefix
	}{
		{in: "5 hello", want: "hello"},
		{in: "1234567890 x", lenErr: false}, // ten digits: a length, then a short body
		{in: "12345678901 x", lenErr: true}, // eleven digits
		{in: "0 ", lenErr: true},
		{in: " 5 hello", lenErr: true},
		{in: "5x hello", lenErr: true},
	} {
		msg, err := readOctetCounted(bufio.NewReader(strings.NewReader(tc.in)), 64)
		isLenErr := err != nil && strings.Contains(err.Error(), "octet-counted frame")
		if isLenErr != tc.lenErr || (tc.want != "" && (err != nil || string(msg) != tc.want)) {
			t.Errorf("%q: got %q, %v", tc.in, msg, err)
		}
	}
}

// TestParserPanicKeepsLine: a message that makes the parser panic is kept
// as a raw line with the error, and the server goes on storing the next.
func TestParserPanicKeepsLine(t *testing.T) {
	parseFn = func(b []byte, now time.Time) (Message, error) {
		if strings.Contains(string(b), "boom") {
			panic("index out of range")
		}
		return Parse(b, now)
	}
	defer func() { parseFn = Parse }()
	srv, w := serve(t, Options{Logger: slog.New(slog.DiscardHandler)})
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "<14>1 2026-11-20T11:00:00Z h app - - - boom\n<14>1 2026-11-20T11:00:01Z h app - - - after\n")
	c.Close()
	want := fmt.Sprint([]string{"<14>1 2026-11-20T11:00:00Z h app - - - boom", "after"})
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(w.bodies()) != want {
		if time.Now().After(deadline) {
			t.Fatalf("got %q, want %s", w.bodies(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.rows {
		if e, _ := r.Field("syslog_error"); strings.HasPrefix(r.Body, "<14>") && !strings.Contains(e.Str, "parser failed") {
			t.Errorf("raw line without the parser error: %+v", r)
		}
	}
}

// TestLinesWaitForTheBudget: syslog lines are charged to the ingest budget
// the other edges share. While it is used up, a TCP sender's lines wait
// (the connection is not read) instead of piling up in memory; once it
// frees they are stored, and the budget is given back.
func TestLinesWaitForTheBudget(t *testing.T) {
	lim := ingest.NewLimiter(64<<10, nil)
	srv, w := serve(t, Options{Limiter: lim})
	if err := lim.Acquire(64 << 10); err != nil { // another edge holds it all
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		fmt.Fprintf(c, "<14>1 2026-11-20T11:00:0%dZ h app - - - line %d\n", i, i)
	}
	c.Close()
	time.Sleep(300 * time.Millisecond)
	if n := len(w.bodies()); n != 0 {
		t.Fatalf("%d lines stored while the budget was used up", n)
	}
	lim.Release(64 << 10)
	deadline := time.Now().Add(10 * time.Second)
	for len(w.bodies()) != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("after the budget freed: %q", w.bodies())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for lim.InUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still reserved", lim.InUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
