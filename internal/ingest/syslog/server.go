package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

// Writer stores rows; *logstore.Writer implements it.
type Writer interface {
	Write(ctx context.Context, rows []model.Event) error
}

// Options configure a Server.
type Options struct {
	// Addr is the TCP and UDP listen address, e.g. ":5514".
	Addr   string
	Tenant string
	Schema *logstore.Schema
	Writer Writer
	// MaxMessageBytes bounds one message. Default 64 KiB.
	MaxMessageBytes int
	// BatchSize and BatchDelay bound how long lines wait before being
	// stored. Defaults 1000 lines and 200ms.
	BatchSize  int
	BatchDelay time.Duration
	// MaxConnections bounds open TCP connections; further ones are closed
	// at once. Default 1000.
	MaxConnections int
	// IdleTimeout closes a TCP connection that sends nothing for this
	// long (a frame cut off by it is lost). Default 5m.
	IdleTimeout time.Duration
	// Limiter is the ingest budget shared with the other edges: each line
	// waiting in a batch holds its bytes plus ingest.CostLine. While it is
	// used up, a TCP connection is not read (back-pressure); UDP datagrams
	// wait in the socket buffer and beyond it are dropped by the kernel.
	// Nil charges nothing.
	Limiter    *ingest.Limiter
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Validate reports invalid options.
func (o Options) Validate() error {
	if o.Addr == "" || o.Schema == nil || o.Writer == nil {
		return errors.New("validate syslog options: Addr, Schema and Writer are required")
	}
	return nil
}

// Server listens for syslog on TCP and UDP.
type Server struct {
	o      Options
	tcp    net.Listener
	udp    net.PacketConn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // guarded by mu

	received, invalid, refused prometheus.Counter
}

// Listen binds the TCP and UDP sockets; Serve starts reading.
func Listen(o Options) (_ *Server, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = 200 * time.Millisecond
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1000
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, conns: map[net.Conn]struct{}{}}
	s.tcp, err = net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen for syslog on tcp %s (logs.syslog_addr): %w", o.Addr, err)
	}
	// UDP on the same port as TCP got (useful with port 0 in tests).
	udpAddr := s.tcp.Addr().String()
	s.udp, err = net.ListenPacket("udp", udpAddr)
	if err != nil {
		s.tcp.Close()
		return nil, fmt.Errorf("listen for syslog on udp %s (logs.syslog_addr): %w", udpAddr, err)
	}
	s.received = prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_syslog_messages_total", Help: "Syslog messages received (TCP and UDP)."})
	s.invalid = prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_syslog_invalid_messages_total", Help: "Syslog messages that could not be parsed; they are stored as raw lines."})
	s.refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_syslog_refused_connections_total", Help: "Syslog TCP connections closed at once because MaxConnections were open."})
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.received, s.invalid, s.refused)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Addr returns the bound address (TCP and UDP share the port).
func (s *Server) Addr() string { return s.tcp.Addr().String() }

// Serve starts the accept and read loops.
func (s *Server) Serve() {
	s.o.Logger.Info("listening", "listener", "syslog", "addr", s.Addr())
	s.wg.Add(2)
	go s.acceptLoop()
	go s.udpLoop()
}

// Stop closes the listeners and connections and waits for pending lines
// to be stored.
func (s *Server) Stop() error {
	err := errors.Join(s.tcp.Close(), s.udp.Close())
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.cancel()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.o.Logger.Warn("syslog accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		full := len(s.conns) >= s.o.MaxConnections
		if !full {
			s.conns[c] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.refused.Inc()
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// batcher collects rows and stores them when full or old.
type batcher struct {
	mu    sync.Mutex // held by callers of add, due and flush on TCP connections
	s     *Server
	rows  []model.Event
	first time.Time
	res   *ingest.Reservation // the rows' share of the ingest budget
	held  int64               // what res holds
}

func newBatcher(s *Server) *batcher {
	return &batcher{s: s, res: s.o.Limiter.Reserve()}
}

// reserve charges a line of n bytes to the ingest budget. While the budget
// is used up it stores the rows it holds and waits, without reading more.
func (b *batcher) reserve(n int64) {
	need := n + ingest.CostLine
	backoff := 50 * time.Millisecond
	for b.res.GrowTo(b.held+need) != nil {
		b.flush()
		if b.s.ctx.Err() != nil {
			return // stopping: the line is stored uncharged
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
	b.held += need
}

func (b *batcher) add(msg []byte, peer string) {
	b.s.received.Inc()
	b.reserve(int64(len(msg)))
	now := time.Now()
	ev := b.s.Row(msg, peer, now)
	if len(b.rows) == 0 {
		b.first = now
	}
	b.rows = append(b.rows, ev)
	if len(b.rows) >= b.s.o.BatchSize {
		b.flush()
	}
}

func (b *batcher) due() bool {
	return len(b.rows) > 0 && time.Since(b.first) >= b.s.o.BatchDelay
}

// flush stores the rows, retrying while the store is overloaded (syslog has
// no acknowledgements, so holding the connection is the back-pressure).
func (b *batcher) flush() {
	defer func() {
		b.res.Release()
		b.held = 0
	}()
	if len(b.rows) == 0 {
		return
	}
	backoff := 50 * time.Millisecond
	for {
		err := b.s.o.Writer.Write(b.s.ctx, b.rows)
		if err == nil {
			break
		}
		if !errors.Is(err, failure.ErrOverloaded) || b.s.ctx.Err() != nil {
			b.s.o.Logger.Warn("syslog lines not stored", "lines", len(b.rows), "err", err)
			break
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
	b.rows = b.rows[:0]
}

// parse is Parse, except that a panic in it (a bug the fuzz tests missed)
// becomes a parse error: the message is kept as a raw line and the server
// goes on serving every other sender.
func (s *Server) parse(msg []byte, now time.Time) (m Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.o.Logger.Error("syslog parser panicked; the message is kept as a raw line", "panic", p, "stack", string(debug.Stack()))
			m, err = Message{}, fmt.Errorf("parser failed: %v", p)
		}
	}()
	return parseFn(msg, now)
}

// parseFn is Parse; tests replace it to check that a panic is contained.
var parseFn = Parse

// Row converts one raw message into a row; unparsable messages are kept
// whole as the line.
func (s *Server) Row(msg []byte, peer string, now time.Time) model.Event {
	m, err := s.parse(msg, now)
	r := s.o.Schema.NewRecord(s.o.Tenant, now.UnixNano())
	if err != nil {
		s.invalid.Inc()
		r.SetBody(string(msg))
		r.AddString("syslog_error", err.Error())
	} else {
		if !m.Time.IsZero() {
			r.SetTime(m.Time.UnixNano())
		}
		r.SetBody(m.Text)
		r.SetSeverity(SeverityName(m.Severity))
		for _, kv := range [...][2]string{
			{"service.name", m.AppName}, {"hostname", m.Hostname}, {"facility", FacilityName(m.Facility)},
			{"proc_id", m.ProcID}, {"msg_id", m.MsgID},
		} {
			if kv[1] != "" {
				r.AddString(kv[0], kv[1])
			}
		}
		for k, v := range m.StructuredData {
			r.AddString(k, v)
		}
	}
	if peer != "" {
		r.AddString("peer", peer)
	}
	return r.Event()
}

func (s *Server) serveConn(c net.Conn) {
	peer, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	br := bufio.NewReaderSize(c, 64<<10)
	b := newBatcher(s)
	// A ticker stores lines that wait longer than BatchDelay, so reads need
	// no short deadlines; only a connection idle for IdleTimeout is closed.
	done := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(s.o.BatchDelay / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.mu.Lock()
				if b.due() {
					b.flush()
				}
				b.mu.Unlock()
			}
		}
	}()
	defer func() {
		close(done)
		<-tickDone
		b.mu.Lock()
		b.flush()
		b.mu.Unlock()
	}()
	octet := false
	c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
	if first, err := br.Peek(1); err != nil {
		return
	} else if first[0] >= '1' && first[0] <= '9' {
		octet = true
	}
	lineBuf := make([]byte, 0, 1024)
	for {
		var msg []byte
		var err error
		c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
		if octet {
			msg, err = readOctetCounted(br, s.o.MaxMessageBytes)
		} else {
			msg, lineBuf, err = readLine(br, lineBuf[:0], s.o.MaxMessageBytes)
		}
		if len(msg) > 0 {
			b.mu.Lock()
			b.add(msg, peer)
			b.mu.Unlock()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.o.Logger.Debug("syslog connection closed", "peer", peer, "err", err)
			}
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readOctetCounted reads "LEN SP MSG". LEN is read digit by digit, so a
// peer sending digits without end is refused after ten, not buffered.
func readOctetCounted(br *bufio.Reader, max int) ([]byte, error) {
	n := 0
	for i := 0; ; i++ {
		c, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == ' ' && i > 0 {
			break
		}
		if c < '0' || c > '9' || i == maxLenDigits {
			return nil, fmt.Errorf("octet-counted frame: bad length (byte %q after %d digits)", c, i)
		}
		n = n*10 + int(c-'0')
	}
	if n <= 0 {
		return nil, errors.New("octet-counted frame: length 0")
	}
	if n > max {
		// Skip an oversized frame but keep its first max bytes.
		msg := make([]byte, max)
		if _, err := io.ReadFull(br, msg); err != nil {
			return nil, err
		}
		_, err := br.Discard(n - max)
		return msg, err
	}
	msg := make([]byte, n)
	_, err := io.ReadFull(br, msg)
	return msg, err
}

// maxLenDigits bounds an octet-counted frame's length prefix (RFC 6587).
const maxLenDigits = 10

// readLine reads up to '\n', cutting lines longer than max.
func readLine(br *bufio.Reader, buf []byte, max int) ([]byte, []byte, error) {
	for {
		part, err := br.ReadSlice('\n')
		if len(buf)+len(part) <= max {
			buf = append(buf, part...)
		} else if len(buf) < max {
			buf = append(buf, part[:max-len(buf)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return append([]byte(nil), buf...), buf, err
		}
		out := append([]byte(nil), trimNL(buf)...)
		return out, buf, nil
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (s *Server) udpLoop() {
	defer s.wg.Done()
	b := newBatcher(s)
	defer b.flush()
	buf := make([]byte, 64<<10)
	for {
		if len(b.rows) > 0 {
			_ = s.udp.SetReadDeadline(time.Now().Add(s.o.BatchDelay))
		} else {
			_ = s.udp.SetReadDeadline(time.Time{})
		}
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			if isTimeout(err) {
				b.flush()
				continue
			}
			return
		}
		peer := ""
		if ua, ok := addr.(*net.UDPAddr); ok {
			peer = ua.IP.String()
		}
		msg := trimNL(buf[:n])
		if len(msg) > s.o.MaxMessageBytes {
			msg = msg[:s.o.MaxMessageBytes]
		}
		if len(msg) > 0 {
			b.add(append([]byte(nil), msg...), peer)
		}
		if b.due() {
			b.flush()
		}
	}
}
