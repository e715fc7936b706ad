package httpserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadline: a client that stops sending its body mid-way gets 408
// once the deadline passes, while a handler that keeps working after it has
// read a complete body is not cut off by the same deadline.
func TestBodyDeadline(t *testing.T) {
	const d = 200 * time.Millisecond
	h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(3 * d) // longer than the deadline: a slow store write or query
		if err := r.Context().Err(); err != nil {
			http.Error(w, "context: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "read %d", len(b))
	}), d)
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A complete body, then a handler outliving the deadline.
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "read 5" {
		t.Fatalf("complete body: %d %q", resp.StatusCode, body)
	}

	// A body announced as 1 MB of which 10 bytes ever arrive.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("stalled body: no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: status %d, want 408", resp.StatusCode)
	}
	if el := time.Since(start); el < d || el > 5*time.Second {
		t.Fatalf("stalled body answered after %v (deadline %v)", el, d)
	}
}
