package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/failure"
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

	received, invalid prometheus.Counter
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
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.received, s.invalid)
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
		s.conns[c] = struct{}{}
		s.mu.Unlock()
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
}

func (b *batcher) add(msg []byte, peer string) {
	b.s.received.Inc()
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

// Row converts one raw message into a row; unparsable messages are kept
// whole as the line.
func (s *Server) Row(msg []byte, peer string, now time.Time) model.Event {
	m, err := Parse(msg, now)
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
	b := &batcher{s: s}
	// A ticker stores lines that wait longer than BatchDelay, so reads need
	// no deadlines (a deadline in the middle of a frame would lose it).
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
	if first, err := br.Peek(1); err != nil {
		return
	} else if first[0] >= '1' && first[0] <= '9' {
		octet = true
	}
	lineBuf := make([]byte, 0, 1024)
	for {
		var msg []byte
		var err error
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

// readOctetCounted reads "LEN SP MSG".
func readOctetCounted(br *bufio.Reader, max int) ([]byte, error) {
	lenStr, err := br.ReadString(' ')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(lenStr[:len(lenStr)-1])
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("octet-counted frame: bad length %q", truncate(lenStr, 12))
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
	_, err = io.ReadFull(br, msg)
	return msg, err
}

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
	b := &batcher{s: s}
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
