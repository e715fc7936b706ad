// Package ui serves the sightline web UI: the single-page application built
// from web/ and embedded into the binary from internal/ui/dist at compile
// time. Client-side routes fall back to index.html, content-hashed assets are
// cached as immutable, and compressible files are sent gzip-compressed when
// the client accepts it. When the UI was not built (dist holds only its
// README), every page explains how to build it instead.
//
// Handlers are immutable after construction and safe for concurrent use.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed all:dist
var embedded embed.FS

// assetsDir holds the content-hashed files Vite writes; they never change
// under the same name, so browsers may cache them for a year.
const assetsDir = "assets/"

// reservedPrefixes belong to server APIs. A request under them that reaches
// the UI matched no API route: it gets a plain 404, not the HTML app.
var reservedPrefixes = []string{"/api/", "/loki/", "/-/"}

// minGzipSize is the size below which compressing is not worth a round of gzip.
const minGzipSize = 512

var defaultHandler = sync.OnceValues(func() (http.Handler, error) {
	sub, err := fs.Sub(embedded, "dist")
	if err != nil {
		return nil, fmt.Errorf("open embedded dist: %w", err)
	}
	return NewHandler(sub)
})

// Handler returns the handler for the UI embedded in this binary. Mount it as
// the fallback route ("/") after the API routes.
func Handler() http.Handler {
	h, err := defaultHandler()
	if err != nil {
		// The embedded tree is fixed at compile time; failing to read it is a
		// build defect. Serve the reason rather than crash the server.
		msg := err.Error()
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "web UI unavailable: "+msg, http.StatusInternalServerError)
		})
	}
	return h
}

// Built reports whether this binary embeds a built UI.
func Built() bool {
	sub, err := fs.Sub(embedded, "dist")
	if err != nil {
		return false
	}
	_, err = fs.Stat(sub, "index.html")
	return err == nil
}

type asset struct {
	body      []byte
	etag      string
	ctype     string
	immutable bool
	compress  bool // worth offering gzip

	gzOnce sync.Once
	gz     []byte // compressed body, set once by gzipped; nil if it did not shrink
}

// gzipped compresses the body on first use, so start-up stays instant and
// files nobody asks for are never compressed.
func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return // unreachable with a valid level; the plain body is served
		}
		if _, err := zw.Write(a.body); err != nil {
			return
		}
		if err := zw.Close(); err != nil {
			return
		}
		if buf.Len() < len(a.body) {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

type handler struct {
	files map[string]*asset // keyed by slash path without leading slash
	index *asset            // nil when the UI was not built
}

// NewHandler builds a handler serving the built UI in fsys (the contents of
// web/dist: index.html at its root). It reads every file up front and
// compresses each on its first request. If fsys has no index.html, the
// handler serves a page explaining how to build the UI.
func NewHandler(fsys fs.FS) (http.Handler, error) {
	h := &handler{files: make(map[string]*asset)}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		h.files[p] = newAsset(p, body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load web UI files: %w", err)
	}
	h.index = h.files["index.html"]
	if h.index == nil {
		// Only the placeholder README may be present: serve nothing from it.
		h.files = map[string]*asset{}
	}
	return h, nil
}

func newAsset(p string, body []byte) *asset {
	sum := sha256.Sum256(body)
	a := &asset{
		body:      body,
		etag:      `"` + hex.EncodeToString(sum[:12]) + `"`,
		ctype:     contentType(p),
		immutable: strings.HasPrefix(p, assetsDir),
	}
	a.compress = len(body) >= minGzipSize && compressible(a.ctype)
	return a
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".map":
		return "application/json"
	case ".woff2":
		return "font/woff2"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") ||
		ctype == "image/svg+xml"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	urlPath := r.URL.Path
	if !strings.HasPrefix(urlPath, "/") {
		urlPath = "/" + urlPath
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(urlPath, p) {
			http.NotFound(w, r)
			return
		}
	}
	if h.index == nil {
		serveNotBuilt(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean(urlPath), "/")
	if a, ok := h.files[name]; ok {
		h.serve(w, r, a)
		return
	}
	// A missing hashed asset or any other missing file with an extension is a
	// real 404: answering with HTML would break a stale page in confusing ways.
	if strings.HasPrefix(name, assetsDir) || path.Ext(name) != "" {
		http.NotFound(w, r)
		return
	}
	h.serve(w, r, h.index)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, a *asset) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if a.immutable {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// index.html names the current hashed assets: always revalidate it.
		hdr.Set("Cache-Control", "no-cache")
	}
	body := a.body
	if a.compress {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			if gz := a.gzipped(); gz != nil {
				hdr.Set("Content-Encoding", "gzip")
				body = gz
			}
		}
	}
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // a failed write means the client went away
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (q > 0).
func acceptsGzip(ae string) bool {
	for part := range strings.SplitSeq(ae, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
			return false
		}
		return true
	}
	return false
}

func etagMatch(inm, etag string) bool {
	if inm == "" {
		return false
	}
	for part := range strings.SplitSeq(inm, ",") {
		t := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

const notBuiltPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sightline: web UI not built</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #1c2430; }
code, pre { font-family: ui-monospace, monospace; background: #f2f4f7; border-radius: 4px; }
code { padding: 0 .3em; }
pre { padding: .8em 1em; }
@media (prefers-color-scheme: dark) { body { background: #0f1217; color: #e3e7ee; } code, pre { background: #1c212a; } }
</style>
</head>
<body>
<h1>The web UI is not built into this binary</h1>
<p>This sightline server is running and its APIs work (for example
<a href="/api/v1/status/buildinfo"><code>/api/v1/status/buildinfo</code></a>), but it was
compiled without the browser UI.</p>
<p>To include it, build the UI (needs Node.js 20.19 or later and npm) and rebuild the binary from the repository root:</p>
<pre>make ui
go build ./cmd/sightline</pre>
<p><code>make ui</code> runs <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code> and copies
<code>web/dist</code> to <code>internal/ui/dist</code>, which the Go build embeds.</p>
</body>
</html>
`

func serveNotBuilt(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(notBuiltPage))
	}
}
