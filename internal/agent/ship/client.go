package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
)

// BatchIDHeader carries the batch id.
const BatchIDHeader = "X-Sightline-Batch-Id"

// DefaultPath is the server's OTLP/HTTP logs path.
const DefaultPath = "/otlp/v1/logs"

// Options configures a Client.
type Options struct {
	// Server is the server's base URL, e.g. http://host:9800.
	Server string `yaml:"-"`
	// Path is appended to Server.
	Path string `yaml:"path"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout"`
	// MinBackoff and MaxBackoff bound the retry delay, which doubles per
	// attempt with full jitter.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Headers are added to every request (e.g. a tenant or auth header).
	Headers map[string]string `yaml:"headers"`
	// GzipLevel is the compression level (1 fastest … 9 smallest).
	GzipLevel int `yaml:"gzip_level"`
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Path: DefaultPath, Timeout: 30 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, GzipLevel: gzip.BestSpeed}
}

// Validate checks the options.
func (o *Options) Validate() error {
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("validate ship options: server %q is not an http(s) URL (set --server)", o.Server)
	}
	if !strings.HasPrefix(o.Path, "/") {
		return fmt.Errorf("validate ship options: path %q must start with /", o.Path)
	}
	if o.Timeout <= 0 || o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff {
		return errors.New("validate ship options: timeout and backoffs must be positive, max_backoff >= min_backoff")
	}
	if o.GzipLevel < gzip.BestSpeed || o.GzipLevel > gzip.BestCompression {
		return fmt.Errorf("validate ship options: gzip_level %d out of 1..9", o.GzipLevel)
	}
	return nil
}

// Metrics are the shipper's collectors.
type Metrics struct {
	BatchesSent     prometheus.Counter
	RecordsSent     prometheus.Counter
	BytesSent       prometheus.Counter
	Retries         prometheus.Counter
	BatchesRejected prometheus.Counter
	RecordsRejected prometheus.Counter
	RequestSeconds  prometheus.Histogram
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		BatchesSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_batches_sent_total", Help: "Batches acknowledged by the server."}),
		RecordsSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_lines_sent_total", Help: "Log records acknowledged by the server."}),
		BytesSent:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_sent_bytes_total", Help: "Compressed request bytes acknowledged by the server."}),
		Retries:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_retries_total", Help: "Delivery attempts that failed and were retried."}),
		BatchesRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_batches_rejected_total", Help: "Batches the server rejected with a non-retryable 4xx."}),
		RecordsRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_agent_lines_rejected_total", Help: "Log records in rejected batches."}),
		RequestSeconds:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sightline_agent_request_duration_seconds", Help: "Duration of delivery requests.", Buckets: prometheus.DefBuckets}),
	}
	if reg != nil {
		reg.MustRegister(m.BatchesSent, m.RecordsSent, m.BytesSent, m.Retries, m.BatchesRejected, m.RecordsRejected, m.RequestSeconds)
	}
	return m
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Body string
	// RetryAfter is the server's Retry-After hint (0 when absent).
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Code, e.Body)
}

// Retryable reports whether the request may succeed if repeated.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// ErrRejected wraps a non-retryable answer from Deliver.
var ErrRejected = errors.New("batch rejected by server")

// Client sends batches.
type Client struct {
	opts Options
	url  string
	http *http.Client
	log  *slog.Logger
	m    *Metrics
	gz   sync.Pool
}

// NewClient returns a client; hc nil uses a default transport.
func NewClient(opts Options, hc *http.Client, log *slog.Logger, m *Metrics) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Client{opts: opts, url: strings.TrimSuffix(opts.Server, "/") + opts.Path, http: hc, log: log, m: m}, nil
}

// compress gzips payload.
func (c *Client) compress(payload []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(payload)/4 + 64)
	zw, _ := c.gz.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(&buf, c.opts.GzipLevel); err != nil {
			return nil, fmt.Errorf("create gzip writer: %w", err)
		}
	} else {
		zw.Reset(&buf)
	}
	defer c.gz.Put(zw)
	if _, err := zw.Write(payload); err != nil {
		return nil, fmt.Errorf("compress batch: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress batch: %w", err)
	}
	return buf.Bytes(), nil
}

// Send makes one attempt to deliver b. A batch without log records is not
// sent (it only carries positions).
func (c *Client) Send(ctx context.Context, b *Batch) error {
	if b.Records == 0 || len(b.Logs) == 0 {
		return nil
	}
	body, err := c.compress(b.Logs)
	if err != nil {
		return err
	}
	return c.post(ctx, b.ID, body)
}

func (c *Client) post(ctx context.Context, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set(BatchIDHeader, id)
	for k, v := range c.opts.Headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	c.m.RequestSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("post batch %s: %w", id, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		c.m.BytesSent.Add(float64(len(body)))
		return nil
	}
	se := &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			se.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return se
}

// Deliver sends b until the server accepts it, retrying 429/5xx/network
// errors with backoff. A non-retryable answer returns an error wrapping
// ErrRejected (the caller moves on); ctx ending returns ctx.Err().
func (c *Client) Deliver(ctx context.Context, b *Batch) error {
	if b.Records == 0 || len(b.Logs) == 0 {
		return nil
	}
	body, err := c.compress(b.Logs)
	if err != nil {
		return err
	}
	delay := c.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		err := c.post(ctx, b.ID, body)
		if err == nil {
			c.m.BatchesSent.Inc()
			c.m.RecordsSent.Add(float64(b.Records))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *StatusError
		if errors.As(err, &se) && !se.Retryable() {
			c.m.BatchesRejected.Inc()
			c.m.RecordsRejected.Add(float64(b.Records))
			c.log.Error("server rejected a batch; it will not be retried", "batch", b.ID, "records", b.Records, "status", se.Code, "body", se.Body)
			return fmt.Errorf("deliver batch %s: %w: %w", b.ID, ErrRejected, err)
		}
		c.m.Retries.Inc()
		wait := time.Duration(rand.Int64N(int64(delay))) + delay/2 // jitter in [d/2, 3d/2)
		if errors.As(err, &se) && se.RetryAfter > wait {
			wait = min(se.RetryAfter, c.opts.MaxBackoff)
		}
		lvl := slog.LevelDebug
		if attempt == 3 || attempt%20 == 0 {
			lvl = slog.LevelWarn
		}
		c.log.Log(ctx, lvl, "delivery failed; retrying", "batch", b.ID, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, c.opts.MaxBackoff)
	}
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
