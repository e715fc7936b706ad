package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

var bigJS = strings.Repeat("export const answer = 42; // filler to make gzip worthwhile\n", 50)

func builtFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":              {Data: []byte(`<!doctype html><div id="root"></div><script src="/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js":  {Data: []byte(bigJS)},
		"assets/index-abc123.css": {Data: []byte("body{margin:0}")},
		"README.md":               {Data: []byte("placeholder")},
	}
}

func newTestHandler(t *testing.T, fsys fstest.MapFS) http.Handler {
	t.Helper()
	h, err := NewHandler(fsys)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

func do(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestBuiltUI(t *testing.T) {
	h := newTestHandler(t, builtFS())
	index := string(builtFS()["index.html"].Data)
	tests := []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		body                 string // exact body when not empty
		ctype, cache         string
	}{
		{name: "root serves index", method: "GET", target: "/", status: 200, body: index, ctype: "text/html; charset=utf-8", cache: "no-cache"},
		{name: "client route falls back to index", method: "GET", target: "/graph?q=up", status: 200, body: index, cache: "no-cache"},
		{name: "nested client route", method: "GET", target: "/traces/abc/def", status: 200, body: index},
		{name: "index.html by name", method: "GET", target: "/index.html", status: 200, body: index, cache: "no-cache"},
		{name: "hashed asset is immutable", method: "GET", target: "/assets/index-abc123.css", status: 200, body: "body{margin:0}", ctype: "text/css; charset=utf-8", cache: "public, max-age=31536000, immutable"},
		{name: "missing asset is 404", method: "GET", target: "/assets/index-gone.js", status: 404},
		{name: "missing file with extension is 404", method: "GET", target: "/favicon.ico", status: 404},
		{name: "api prefix is not the app", method: "GET", target: "/api/v1/nope", status: 404},
		{name: "loki prefix is not the app", method: "GET", target: "/loki/api/v1/nope", status: 404},
		{name: "traversal stays inside", method: "GET", target: "/../../etc/passwd", status: 200, body: index},
		{name: "post is refused", method: "POST", target: "/", status: 405},
		{name: "head has no body", method: "HEAD", target: "/", status: 200},
		{name: "matching etag is 304", method: "GET", target: "/assets/index-abc123.css", hdr: map[string]string{"If-None-Match": etagOf(t, h, "/assets/index-abc123.css")}, status: 304},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, tc.method, tc.target, tc.hdr)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tc.status, rec.Body.String())
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body = %q, want %q", rec.Body.String(), tc.body)
			}
			if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", rec.Header().Get("Content-Type"), tc.ctype)
			}
			if tc.cache != "" && rec.Header().Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", rec.Header().Get("Cache-Control"), tc.cache)
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD wrote %d body bytes", rec.Body.Len())
			}
		})
	}
}

func etagOf(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	e := do(h, "GET", target, nil).Header().Get("ETag")
	if e == "" {
		t.Fatalf("%s has no ETag", target)
	}
	return e
}

func TestGzip(t *testing.T) {
	h := newTestHandler(t, builtFS())
	tests := []struct {
		name, target, accept string
		wantGzip             bool
	}{
		{"accepted", "/assets/index-abc123.js", "gzip, deflate, br", true},
		{"with q value", "/assets/index-abc123.js", "br;q=1.0, gzip;q=0.8", true},
		{"refused with q=0", "/assets/index-abc123.js", "gzip;q=0", false},
		{"not offered", "/assets/index-abc123.js", "br", false},
		{"no header", "/assets/index-abc123.js", "", false},
		{"tiny file stays plain", "/assets/index-abc123.css", "gzip", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, "GET", tc.target, map[string]string{"Accept-Encoding": tc.accept})
			if rec.Code != 200 {
				t.Fatalf("status = %d", rec.Code)
			}
			gotGzip := rec.Header().Get("Content-Encoding") == "gzip"
			if gotGzip != tc.wantGzip {
				t.Fatalf("gzip = %v, want %v", gotGzip, tc.wantGzip)
			}
			body := rec.Body.Bytes()
			if gotGzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("gzip.NewReader: %v", err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("gunzip: %v", err)
				}
				if rec.Header().Get("Vary") != "Accept-Encoding" {
					t.Errorf("Vary = %q", rec.Header().Get("Vary"))
				}
			}
			want := builtFS()[strings.TrimPrefix(tc.target, "/")].Data
			if !bytes.Equal(body, want) {
				t.Errorf("decoded body differs from the file (%d vs %d bytes)", len(body), len(want))
			}
			if n := rec.Header().Get("Content-Length"); n != "" && n != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length = %s, body %d", n, rec.Body.Len())
			}
		})
	}
}

func TestNotBuilt(t *testing.T) {
	h := newTestHandler(t, fstest.MapFS{"README.md": {Data: []byte("placeholder")}})
	for _, target := range []string{"/", "/graph", "/README.md"} {
		rec := do(h, "GET", target, nil)
		if rec.Code != 200 {
			t.Fatalf("%s: status = %d", target, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "make ui") {
			t.Errorf("%s: page does not say how to build the UI: %q", target, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type = %q", target, ct)
		}
	}
	if rec := do(h, "GET", "/api/v1/query", nil); rec.Code != 404 {
		t.Errorf("API path served the page: status %d", rec.Code)
	}
}

// The embedded tree is either the placeholder (no Node at build time) or a
// real build; both must give a working root page.
func TestEmbeddedHandler(t *testing.T) {
	rec := do(Handler(), "GET", "/", nil)
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	body := rec.Body.String()
	if Built() {
		if !strings.Contains(body, `id="root"`) {
			t.Errorf("built UI index lacks the app root: %q", body)
		}
	} else if !strings.Contains(body, "make ui") {
		t.Errorf("unbuilt UI page lacks build instructions: %q", body)
	}
}

func FuzzServePath(f *testing.F) {
	h, err := NewHandler(builtFS())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/", "/assets/index-abc123.js", "/../x", "//assets/../index.html", "/api/", "/%2e%2e/", "/a.b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			ct := rec.Header().Get("Content-Type")
			if ct == "" {
				t.Fatalf("%q: 200 without Content-Type", p)
			}
			// Every 200 body is one of the files, never anything else.
			found := false
			for _, f := range builtFS() {
				if bytes.Equal(rec.Body.Bytes(), f.Data) {
					found = true
				}
			}
			if !found {
				t.Fatalf("%q: served a body that is not a dist file", p)
			}
		case 404:
		default:
			t.Fatalf("%q: unexpected status %d", p, rec.Code)
		}
	})
}
