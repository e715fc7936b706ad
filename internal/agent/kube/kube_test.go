package kube

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func podJSON(ns, name, uid, node, rv string, labels map[string]string) map[string]any {
	return map[string]any{
		"kind":     "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv, "labels": labels},
		"spec":     map[string]any{"nodeName": node, "containers": []any{map[string]any{"name": "c"}}},
		"status":   map[string]any{"phase": "Running"},
	}
}

// fakeAPI speaks enough of the Kubernetes pods API: list (with a node
// field selector), watch (events pushed by the test), get.
type fakeAPI struct {
	t     *testing.T
	token string

	mu      sync.Mutex
	pods    map[string]map[string]any // uid -> pod
	rv      int
	events  chan string // raw watch lines
	lists   int
	watches int
	gets    int
	queries []string
	goneOn  int // answer the n-th watch with a 410 ERROR event
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t, token: "s3cret", pods: map[string]map[string]any{}, events: make(chan string, 16)}
}

func (f *fakeAPI) add(p map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	f.pods[p["metadata"].(map[string]any)["uid"].(string)] = p
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	f.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("watch") == "1":
		f.mu.Lock()
		f.watches++
		gone := f.watches == f.goneOn
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if gone {
			fmt.Fprintln(w, `{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"}}`)
			return
		}
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-f.events:
				fmt.Fprintln(w, ev)
				w.(http.Flusher).Flush()
			}
		}
	case r.URL.Path == "/api/v1/pods":
		f.mu.Lock()
		f.lists++
		items := []any{}
		node := r.URL.Query().Get("fieldSelector")
		for _, p := range f.pods {
			if node == "" || node == "spec.nodeName="+p["spec"].(map[string]any)["nodeName"].(string) {
				items = append(items, p)
			}
		}
		rv := f.rv
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"kind": "PodList", "metadata": map[string]any{"resourceVersion": fmt.Sprint(rv)}, "items": items})
	case strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/"):
		f.mu.Lock()
		defer f.mu.Unlock()
		f.gets++
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/")
		if len(parts) == 3 && parts[1] == "pods" {
			for _, p := range f.pods {
				m := p["metadata"].(map[string]any)
				if m["namespace"] == parts[0] && m["name"] == parts[2] {
					json.NewEncoder(w).Encode(p)
					return
				}
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","code":404,"reason":"NotFound"}`)
	default:
		http.NotFound(w, r)
	}
}

// start serves the fake API over TLS and returns options trusting it.
func (f *fakeAPI) start(t *testing.T) Options {
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644)
	os.WriteFile(filepath.Join(dir, "token"), []byte(f.token+"\n"), 0o600)
	o := DefaultOptions()
	o.Enabled = "true"
	o.Server = srv.URL
	o.CAFile = filepath.Join(dir, "ca.crt")
	o.TokenFile = filepath.Join(dir, "token")
	o.NodeName = "node-a"
	o.LookupTimeout = 2 * time.Second
	return o
}

func runCache(t *testing.T, o Options) (*Cache, func()) {
	c, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	return c, func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func event(typ string, p map[string]any) string {
	b, _ := json.Marshal(map[string]any{"type": typ, "object": p})
	return string(b)
}

func TestListWatchLookup(t *testing.T) {
	f := newFakeAPI(t)
	f.add(podJSON("shop", "cart-1", "uid-cart", "node-a", "1", map[string]string{"app.kubernetes.io/name": "cart", "tier": "web"}))
	f.add(podJSON("shop", "elsewhere", "uid-else", "node-b", "2", nil))
	c, stop := runCache(t, f.start(t))
	defer stop()

	info := c.LookupPod("shop", "cart-1", "uid-cart")
	if info == nil || info.Node != "node-a" || info.Service != "cart" || info.Labels["tier"] != "web" {
		t.Fatalf("listed pod: %+v", info)
	}
	// The list asked for this node's pods only.
	c.mu.RLock()
	_, other := c.byUID["uid-else"]
	c.mu.RUnlock()
	if other {
		t.Fatal("pod of another node cached despite the field selector")
	}

	// A watch event adds a pod and another changes labels.
	waitFor(t, "watch", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.watches == 1 })
	f.events <- event("ADDED", podJSON("shop", "pay-1", "uid-pay", "node-a", "3", map[string]string{"app": "pay"}))
	f.events <- event("MODIFIED", podJSON("shop", "cart-1", "uid-cart", "node-a", "4", map[string]string{"app.kubernetes.io/name": "cart", "tier": "api"}))
	f.events <- `{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"5"}}}`
	waitFor(t, "watched pods", func() bool {
		p, c2 := c.cached("shop", "pay-1", "uid-pay"), c.cached("shop", "cart-1", "uid-cart")
		return p != nil && p.Service == "pay" && c2 != nil && c2.Labels["tier"] == "api"
	})

	// Deleted pods stay known for DeletedRetention, then go.
	f.events <- event("DELETED", podJSON("shop", "pay-1", "uid-pay", "node-a", "6", nil))
	waitFor(t, "delete", func() bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return !c.byUID["uid-pay"].deleted.IsZero()
	})
	if c.LookupPod("shop", "pay-1", "uid-pay") == nil {
		t.Fatal("deleted pod forgotten at once (its last lines are still read)")
	}
	c.purge(time.Now().Add(c.opts.DeletedRetention + time.Second))
	if c.cached("shop", "pay-1", "uid-pay") != nil {
		t.Fatal("deleted pod kept past retention")
	}

	// A pod the watch has not delivered yet is fetched directly; a uid
	// mismatch (same name, new pod) or unknown pod gives nil, and the
	// miss is remembered.
	f.add(podJSON("shop", "new-1", "uid-new", "node-a", "7", map[string]string{"app": "new"}))
	if info := c.LookupPod("shop", "new-1", "uid-new"); info == nil || info.Service != "new" {
		t.Fatalf("direct fetch: %+v", info)
	}
	if info := c.LookupPod("shop", "nope", "uid-x"); info != nil {
		t.Fatalf("unknown pod: %+v", info)
	}
	f.mu.Lock()
	gets := f.gets
	f.mu.Unlock()
	c.LookupPod("shop", "nope", "uid-x")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gets != gets {
		t.Fatal("a known miss was fetched again at once")
	}
	if f.queries[0] != "fieldSelector=spec.nodeName%3Dnode-a" {
		t.Fatalf("list query %q", f.queries[0])
	}
}

func TestWatchGoneRelists(t *testing.T) {
	f := newFakeAPI(t)
	f.goneOn = 1
	f.add(podJSON("ns", "a", "uid-a", "node-a", "1", nil))
	_, stop := runCache(t, f.start(t))
	defer stop()
	waitFor(t, "relist after 410", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.lists >= 2 && f.watches >= 2 })
}

func TestUnreachableFallsBack(t *testing.T) {
	f := newFakeAPI(t)
	o := f.start(t)
	f.token = "other" // every request is refused
	o.LookupTimeout = 200 * time.Millisecond
	c, stop := runCache(t, o)
	defer stop()
	start := time.Now()
	for i := range 20 {
		if info := c.LookupPod("shop", fmt.Sprintf("pod-%d", i), "u"); info != nil {
			t.Fatalf("got %+v", info)
		}
	}
	// One wait for the first list and one failed fetch, not one per pod.
	if d := time.Since(start); d > 3*o.LookupTimeout {
		t.Fatalf("20 lookups took %v with the server refusing", d)
	}
}

func TestOptions(t *testing.T) {
	o := DefaultOptions()
	o.Enabled = "maybe"
	if o.Validate() == nil {
		t.Fatal("bad enabled accepted")
	}
	o = DefaultOptions()
	o.Enabled = "false"
	if o.Active() {
		t.Fatal("disabled but active")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	o.Enabled = "auto"
	if o.Active() {
		t.Fatal("auto active outside a cluster")
	}
	if _, err := New(DefaultOptions(), nil); err == nil {
		t.Fatal("New outside a cluster without a server succeeded")
	}
}

func TestServiceOf(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"app.kubernetes.io/name": "a", "app": "b"}, "a"},
		{map[string]string{"app": "b", "k8s-app": "c"}, "b"},
		{map[string]string{"k8s-app": "c"}, "c"},
		{nil, ""},
	} {
		if got := ServiceOf(tc.labels); got != tc.want {
			t.Errorf("ServiceOf(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func FuzzDecodeWatchEvent(f *testing.F) {
	f.Add([]byte(event("ADDED", podJSON("ns", "a", "u", "n", "1", map[string]string{"app": "x"}))))
	f.Add([]byte(`{"type":"ERROR","object":{"code":410,"reason":"Expired"}}`))
	f.Add([]byte(`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}`))
	f.Add([]byte(`{"type":"DELETED","object":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, pod, st, err := DecodeWatchEvent(b)
		if err != nil {
			return
		}
		switch typ {
		case "ERROR":
			if st == nil {
				t.Fatal("ERROR without status")
			}
		default:
			if pod == nil {
				t.Fatalf("%s without pod", typ)
			}
			_ = pod.Info()
		}
	})
}
