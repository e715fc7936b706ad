// Package kube gives the agent what the Kubernetes API server knows about
// the pods whose logs it reads: node, uid and labels. It keeps a cache of
// the pods (of its node, when the node name is known) filled by a list and
// kept current by a watch, re-listing when the watch ends or falls too far
// behind; a pod the cache does not know yet (its log appeared before the
// watch event) is fetched directly. It talks to the API server over plain
// net/http with the in-cluster service account token and CA.
//
// client-go is not used: the agent needs one resource read-only, a few
// fields of it, and the list+watch protocol is a page of code; an informer
// would keep whole pod objects in memory on every node.
//
// A *Cache is safe for concurrent use; LookupPod may be called while Run
// runs.
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sightline/sightline/internal/agent/parse"
)

// Paths of the in-cluster service account credentials.
const (
	DefaultTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// Options configures the cache.
type Options struct {
	// Enabled is "auto" (on when running in a cluster: the
	// KUBERNETES_SERVICE_HOST variable and the token file exist), "true" or
	// "false".
	Enabled string `yaml:"enabled"`
	// Server is the API server URL; empty: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
	Server string `yaml:"server"`
	// TokenFile and CAFile are the service account credentials; the token
	// is re-read every minute (projected tokens rotate).
	TokenFile string `yaml:"token_file"`
	CAFile    string `yaml:"ca_file"`
	// NodeName limits the cache to pods on this node; empty: $NODE_NAME,
	// and all pods when that is unset too.
	NodeName string `yaml:"node_name"`
	// ResyncInterval is the longest a watch runs before a fresh list.
	ResyncInterval time.Duration `yaml:"resync_interval"`
	// LookupTimeout bounds how long a lookup waits for the first list or
	// for a direct fetch of an unknown pod.
	LookupTimeout time.Duration `yaml:"lookup_timeout"`
	// DeletedRetention is how long a deleted pod stays known (its last
	// log lines are still being read).
	DeletedRetention time.Duration `yaml:"deleted_retention"`
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Enabled: "auto", TokenFile: DefaultTokenFile, CAFile: DefaultCAFile,
		ResyncInterval: 10 * time.Minute, LookupTimeout: 2 * time.Second, DeletedRetention: 10 * time.Minute}
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch o.Enabled {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("validate kubernetes options: enabled %q is not one of auto, true, false", o.Enabled)
	}
	if o.ResyncInterval <= 0 || o.LookupTimeout <= 0 || o.DeletedRetention <= 0 {
		return errors.New("validate kubernetes options: resync_interval, lookup_timeout and deleted_retention must be positive")
	}
	return nil
}

// Active reports whether the cache should run: enabled explicitly, or
// "auto" inside a cluster.
func (o *Options) Active() bool {
	switch o.Enabled {
	case "true":
		return true
	case "auto":
		if os.Getenv("KUBERNETES_SERVICE_HOST") == "" && o.Server == "" {
			return false
		}
		_, err := os.Stat(o.TokenFile)
		return err == nil
	}
	return false
}

// Pod is the part of a Kubernetes pod object the agent reads.
type Pod struct {
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		UID             string            `json:"uid"`
		ResourceVersion string            `json:"resourceVersion"`
		Labels          map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
}

// Info converts the pod for the parser.
func (p *Pod) Info() *parse.PodInfo {
	return &parse.PodInfo{UID: p.Metadata.UID, Node: p.Spec.NodeName, Labels: p.Metadata.Labels, Service: ServiceOf(p.Metadata.Labels)}
}

// ServiceOf names a pod's service from its labels: app.kubernetes.io/name,
// else app, else k8s-app; empty when none is set.
func ServiceOf(labels map[string]string) string {
	for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app"} {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

type podList struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []Pod `json:"items"`
}

// WatchEvent is one line of a watch stream.
type WatchEvent struct {
	Type   string          `json:"type"` // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
	Object json.RawMessage `json:"object"`
}

// Status is the object of an ERROR event (and of error answers).
type Status struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// DecodeWatchEvent decodes one watch event; for ADDED, MODIFIED, DELETED
// and BOOKMARK it returns the pod (a bookmark carries only the resource
// version), for ERROR the status.
func DecodeWatchEvent(line []byte) (typ string, pod *Pod, st *Status, err error) {
	var ev WatchEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return "", nil, nil, fmt.Errorf("decode watch event: %w", err)
	}
	switch ev.Type {
	case "ADDED", "MODIFIED", "DELETED", "BOOKMARK":
		pod = &Pod{}
		if err := json.Unmarshal(ev.Object, pod); err != nil {
			return "", nil, nil, fmt.Errorf("decode watch event pod: %w", err)
		}
		return ev.Type, pod, nil, nil
	case "ERROR":
		st = &Status{}
		if err := json.Unmarshal(ev.Object, st); err != nil {
			return "", nil, nil, fmt.Errorf("decode watch event status: %w", err)
		}
		return ev.Type, nil, st, nil
	}
	return "", nil, nil, fmt.Errorf("decode watch event: unknown type %q", ev.Type)
}

// notFoundError is a 404 answer: the API server works, the pod is gone.
type notFoundError struct{ path string }

func (e *notFoundError) Error() string { return "GET " + e.path + ": not found" }

// errGone asks for a fresh list (the watch's resource version expired).
var errGone = errors.New("watch: resource version too old")

// Cache holds pod metadata.
type Cache struct {
	opts Options
	log  *slog.Logger
	base *url.URL
	hc   *http.Client

	tokMu   sync.Mutex // guards token, tokRead
	token   string
	tokRead time.Time

	synced     chan struct{} // closed after the first successful list
	syncOnce   sync.Once
	syncGaveUp atomic.Bool // a lookup waited LookupTimeout for the first list in vain

	mu      sync.RWMutex // guards the fields below
	byUID   map[string]*entry
	byName  map[string]*entry // "namespace/name"
	missing map[string]time.Time
	// downUntil: a direct fetch failed for a reason other than 404;
	// lookups do not fetch until then.
	downUntil time.Time
}

type entry struct {
	info    *parse.PodInfo
	ns      string
	name    string
	deleted time.Time // zero while the pod exists
}

// New builds a cache from opts (filled with in-cluster defaults); it does
// not contact the server until Run or a lookup.
func New(opts Options, log *slog.Logger) (*Cache, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Server == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" {
			return nil, errors.New("create kubernetes client: KUBERNETES_SERVICE_HOST is not set (set kubernetes.server or kubernetes.enabled: false)")
		}
		if port == "" {
			port = "443"
		}
		opts.Server = "https://" + net.JoinHostPort(host, port)
	}
	if opts.NodeName == "" {
		opts.NodeName = os.Getenv("NODE_NAME")
	}
	base, err := url.Parse(opts.Server)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("create kubernetes client: server %q is not a URL", opts.Server)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read kubernetes CA (kubernetes.ca_file): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read kubernetes CA %s: no certificate found", opts.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	c := &Cache{opts: opts, log: log, base: base, hc: &http.Client{Transport: tr},
		synced: make(chan struct{}), byUID: map[string]*entry{}, byName: map[string]*entry{}, missing: map[string]time.Time{}}
	return c, nil
}

// Run keeps the cache current until ctx ends: list, watch from the list's
// version, and again after an error (with backoff) or ResyncInterval.
func (c *Cache) Run(ctx context.Context) error {
	defer c.hc.CloseIdleConnections()
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		rv, err := c.list(ctx)
		if err == nil {
			backoff = 500 * time.Millisecond
			err = c.watch(ctx, rv)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, errGone) {
			c.log.Warn("kubernetes pod metadata: retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff/2 + rand.N(backoff/2+1)):
			}
			backoff = min(2*backoff, time.Minute)
		}
		c.purge(time.Now())
	}
	return nil
}

// LookupPod implements parse.PodLookup: the cached pod by uid, else by
// namespace/name, else (after waiting for the first list) a direct fetch.
// It returns nil when the API server does not know the pod or cannot be
// reached within LookupTimeout; the caller keeps the path's metadata.
func (c *Cache) LookupPod(ns, name, uid string) *parse.PodInfo {
	if info := c.cached(ns, name, uid); info != nil {
		return info
	}
	if !c.syncGaveUp.Load() {
		t := time.NewTimer(c.opts.LookupTimeout)
		select {
		case <-c.synced:
		case <-t.C:
			c.syncGaveUp.Store(true) // wait once, not once per pod
		}
		t.Stop()
		if info := c.cached(ns, name, uid); info != nil {
			return info
		}
	}
	if ns == "" || name == "" {
		return nil
	}
	key := ns + "/" + name
	c.mu.RLock()
	since, miss := c.missing[key]
	down := time.Now().Before(c.downUntil)
	c.mu.RUnlock()
	if down || (miss && time.Since(since) < time.Minute) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.LookupTimeout)
	defer cancel()
	var p Pod
	err := c.get(ctx, "/api/v1/namespaces/"+url.PathEscape(ns)+"/pods/"+url.PathEscape(name), nil, &p)
	if err != nil || (uid != "" && p.Metadata.UID != uid) {
		c.mu.Lock()
		c.missing[key] = time.Now()
		var nf *notFoundError
		if err != nil && !errors.As(err, &nf) {
			// Unreachable or refusing: do not make every new pod wait.
			c.downUntil = time.Now().Add(30 * time.Second)
		}
		c.mu.Unlock()
		if err != nil {
			c.log.Debug("kubernetes pod metadata: lookup failed", "pod", key, "err", err)
		}
		return nil
	}
	c.put(&p)
	return p.Info()
}

func (c *Cache) cached(ns, name, uid string) *parse.PodInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if uid != "" {
		if e := c.byUID[uid]; e != nil {
			return e.info
		}
	}
	if e := c.byName[ns+"/"+name]; e != nil && (uid == "" || e.info.UID == uid) {
		return e.info
	}
	return nil
}

func (c *Cache) put(p *Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(p)
}

func (c *Cache) putLocked(p *Pod) {
	e := &entry{info: p.Info(), ns: p.Metadata.Namespace, name: p.Metadata.Name}
	if p.Metadata.UID != "" {
		c.byUID[p.Metadata.UID] = e
	}
	c.byName[e.ns+"/"+e.name] = e
	delete(c.missing, e.ns+"/"+e.name)
}

func (c *Cache) deleteLocked(p *Pod, now time.Time) {
	if e := c.byUID[p.Metadata.UID]; e != nil {
		e.deleted = now
	}
	if e := c.byName[p.Metadata.Namespace+"/"+p.Metadata.Name]; e != nil && e.info.UID == p.Metadata.UID {
		e.deleted = now
	}
}

// purge forgets pods deleted longer than DeletedRetention ago.
func (c *Cache) purge(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.byUID {
		if !e.deleted.IsZero() && now.Sub(e.deleted) > c.opts.DeletedRetention {
			delete(c.byUID, k)
		}
	}
	for k, e := range c.byName {
		if !e.deleted.IsZero() && now.Sub(e.deleted) > c.opts.DeletedRetention {
			delete(c.byName, k)
		}
	}
	for k, t := range c.missing {
		if now.Sub(t) > time.Minute {
			delete(c.missing, k)
		}
	}
}

func (c *Cache) podsQuery() url.Values {
	q := url.Values{}
	if c.opts.NodeName != "" {
		q.Set("fieldSelector", "spec.nodeName="+c.opts.NodeName)
	}
	return q
}

// list replaces the cache with the current pods and returns the list's
// resource version. Pods that vanished are kept as deleted.
func (c *Cache) list(ctx context.Context) (string, error) {
	var l podList
	if err := c.get(ctx, "/api/v1/pods", c.podsQuery(), &l); err != nil {
		return "", fmt.Errorf("list pods: %w", err)
	}
	now := time.Now()
	c.mu.Lock()
	seen := make(map[string]bool, len(l.Items))
	for i := range l.Items {
		c.putLocked(&l.Items[i])
		seen[l.Items[i].Metadata.UID] = true
	}
	for uid, e := range c.byUID {
		if !seen[uid] && e.deleted.IsZero() {
			e.deleted = now
		}
	}
	c.mu.Unlock()
	c.syncOnce.Do(func() { close(c.synced) })
	c.log.Debug("kubernetes pod metadata: listed", "pods", len(l.Items), "resource_version", l.Metadata.ResourceVersion)
	return l.Metadata.ResourceVersion, nil
}

// watch applies watch events from rv until the stream ends, ctx ends or
// ResyncInterval passes (then nil: the caller lists again).
func (c *Cache) watch(ctx context.Context, rv string) error {
	q := c.podsQuery()
	q.Set("watch", "1")
	q.Set("resourceVersion", rv)
	q.Set("allowWatchBookmarks", "true")
	q.Set("timeoutSeconds", fmt.Sprint(int(c.opts.ResyncInterval/time.Second)+1))
	wctx, cancel := context.WithTimeout(ctx, c.opts.ResyncInterval)
	defer cancel()
	resp, err := c.do(wctx, "/api/v1/pods", q)
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) || wctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read pod watch: %w", err)
		}
		typ, pod, st, err := DecodeWatchEvent(raw)
		if err != nil {
			return err
		}
		switch typ {
		case "ERROR":
			if st.Code == http.StatusGone || st.Reason == "Expired" || st.Reason == "Gone" {
				return errGone
			}
			return fmt.Errorf("watch pods: server error %d %s: %s", st.Code, st.Reason, st.Message)
		case "BOOKMARK":
		case "DELETED":
			c.mu.Lock()
			c.deleteLocked(pod, time.Now())
			c.mu.Unlock()
		default:
			c.put(pod)
		}
	}
}

func (c *Cache) get(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.do(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func (c *Cache) do(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	tok, err := c.bearer()
	if err != nil {
		return nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusGone:
			return nil, errGone
		case http.StatusNotFound:
			return nil, &notFoundError{path}
		}
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// bearer returns the service account token, re-read every minute.
func (c *Cache) bearer() (string, error) {
	if c.opts.TokenFile == "" {
		return "", nil
	}
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && time.Since(c.tokRead) < time.Minute {
		return c.token, nil
	}
	b, err := os.ReadFile(c.opts.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read service account token (kubernetes.token_file): %w", err)
	}
	c.token, c.tokRead = strings.TrimSpace(string(b)), time.Now()
	return c.token, nil
}
