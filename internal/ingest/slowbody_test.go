package ingest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/httpserver"
)

// TestStalledBodyFreesBudget: a client that announces a large body and
// stops sending holds its reservation only until the body deadline, then
// gets 408, and the budget is free again for everyone else.
func TestStalledBodyFreesBudget(t *testing.T) {
	lim := NewLimiter(1<<20, nil)
	h := httpserver.BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, release, err := ReadBody(r, 1<<20, lim)
		if err != nil {
			WriteError(w, err)
			return
		}
		release()
	}), 300*time.Millisecond)
	srv := httptest.NewServer(h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nabc", 1<<20)
	deadline := time.Now().Add(5 * time.Second)
	for lim.InUse() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if lim.InUse() != 1<<20 {
		t.Fatalf("stalled upload holds %d bytes, want its Content-Length", lim.InUse())
	}
	// Meanwhile the budget is full: another client is turned away.
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second client: %d, want 429 while the budget is held", resp.StatusCode)
	}

	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("stalled upload got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled upload: %d, want 408", resp.StatusCode)
	}
	if n := lim.InUse(); n != 0 {
		t.Fatalf("%d bytes still reserved after the stalled upload was refused", n)
	}
	resp, err = http.Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the stall: %d, want 200", resp.StatusCode)
	}
}
