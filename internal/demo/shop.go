package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Services lists the shop's instrumented services and their log styles.
var Services = []struct {
	Name  string
	Style LogStyle
}{
	{"gateway", StyleJSON}, {"catalog", StyleLogfmt}, {"cart", StyleJSON},
	{"checkout", StyleLogback}, {"payment", StyleLogback}, {"inventory", StyleLogfmt},
}

var products = []Product{
	{"p-100", "espresso beans", 14.5}, {"p-101", "grinder", 89}, {"p-102", "kettle", 39.9},
	{"p-103", "filter papers", 4.2}, {"p-104", "mug", 9.5}, {"p-105", "scale", 24},
}

// shop is the running set of services.
type shop struct {
	faults   *Faults
	svcs     map[string]*service
	grpcSrvs []*grpc.Server
	httpSrvs []*http.Server
	clients  []*rpcClient
	otlp     *grpc.ClientConn
	wg       sync.WaitGroup

	mu    sync.Mutex // guards carts
	carts map[string][]Item

	gateway struct{ catalog, cart, checkout *rpcClient }
	cart    struct{ payment *rpcClient }
	check   struct{ cart, inventory, payment *rpcClient }
	pools   map[string]*dbPool
}

// shopListeners are the listeners bound before the server starts, so that
// the scrape config can name them.
type shopListeners struct {
	http map[string]net.Listener // every service: /metrics (gateway: API too)
	grpc map[string]net.Listener // every service but the gateway
}

func listenShop() (*shopListeners, error) {
	l := &shopListeners{http: map[string]net.Listener{}, grpc: map[string]net.Listener{}}
	for _, s := range Services {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.close()
			return nil, fmt.Errorf("listen for %s: %w", s.Name, err)
		}
		l.http[s.Name] = ln
		if s.Name == "gateway" {
			continue
		}
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			l.close()
			return nil, fmt.Errorf("listen for %s: %w", s.Name, err)
		}
		l.grpc[s.Name] = ln
	}
	return l, nil
}

func (l *shopListeners) close() {
	for _, ln := range l.http {
		ln.Close()
	}
	for _, ln := range l.grpc {
		ln.Close()
	}
}

// startShop starts every service; telemetry goes to the OTLP/gRPC address
// otlpAddr, logs to files in logDir.
func startShop(ctx context.Context, lns *shopListeners, otlpAddr, logDir string, faults *Faults, metricInterval time.Duration) (s *shop, err error) {
	s = &shop{faults: faults, svcs: map[string]*service{}, carts: map[string][]Item{}, pools: map[string]*dbPool{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.stop(context.Background()))
		}
	}()
	if s.otlp, err = grpc.NewClient(otlpAddr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return s, fmt.Errorf("dial OTLP: %w", err)
	}
	for _, d := range Services {
		lw, err := openLog(filepath.Join(logDir, d.Name+".log"), d.Name, d.Style)
		if err != nil {
			return s, err
		}
		svc, err := newService(ctx, d.Name, s.otlp, lw, metricInterval)
		if err != nil {
			lw.Close()
			return s, err
		}
		s.svcs[d.Name] = svc
	}
	for _, name := range []string{"catalog", "checkout", "inventory", "payment"} {
		s.pools[name] = newDBPool(s.svcs[name], 8)
	}
	dial := func(from, to string) (*rpcClient, error) {
		c, err := dialService(s.svcs[from], to, rpcServiceName(to), lns.grpc[to].Addr().String())
		if err == nil {
			s.clients = append(s.clients, c)
		}
		return c, err
	}
	for _, p := range []struct {
		dst      **rpcClient
		from, to string
	}{
		{&s.gateway.catalog, "gateway", "catalog"}, {&s.gateway.cart, "gateway", "cart"}, {&s.gateway.checkout, "gateway", "checkout"},
		{&s.cart.payment, "cart", "payment"},
		{&s.check.cart, "checkout", "cart"}, {&s.check.inventory, "checkout", "inventory"}, {&s.check.payment, "checkout", "payment"},
	} {
		if *p.dst, err = dial(p.from, p.to); err != nil {
			return s, err
		}
	}

	methods := map[string]map[string]rpcHandler{
		"catalog":   {"ListProducts": s.catalogList, "GetProduct": s.catalogGet},
		"cart":      {"AddItem": s.cartAdd, "GetCart": s.cartGet, "Clear": s.cartClear},
		"checkout":  {"PlaceOrder": s.checkoutPlace},
		"payment":   {"Charge": s.paymentCharge},
		"inventory": {"Reserve": s.inventoryReserve},
	}
	for name, ms := range methods {
		gs := newGRPCServer(s.svcs[name], rpcServiceName(name), ms)
		s.grpcSrvs = append(s.grpcSrvs, gs)
		ln := lns.grpc[name]
		s.wg.Go(func() { _ = gs.Serve(ln) })
	}
	for _, d := range Services {
		svc := s.svcs[d.Name]
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", svc.metricsHandler())
		if d.Name == "gateway" {
			s.gatewayRoutes(mux)
			mux.Handle("/faults", faults.Handler())
			mux.Handle("/faults/", faults.Handler())
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.httpSrvs = append(s.httpSrvs, hs)
		ln := lns.http[d.Name]
		s.wg.Go(func() { _ = hs.Serve(ln) })
	}
	return s, nil
}

// stop shuts every server down and flushes telemetry.
func (s *shop) stop(ctx context.Context) error {
	var errs []error
	for _, hs := range s.httpSrvs {
		errs = append(errs, hs.Shutdown(ctx))
	}
	for _, gs := range s.grpcSrvs {
		gs.Stop()
	}
	s.wg.Wait()
	for _, c := range s.clients {
		errs = append(errs, c.Close())
	}
	for _, svc := range s.svcs {
		if err := svc.shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("flush %s telemetry: %w", svc.name, err))
		}
		errs = append(errs, svc.log.Close())
	}
	if s.otlp != nil {
		errs = append(errs, s.otlp.Close())
	}
	return errors.Join(errs...)
}

// ---- gateway (HTTP) ----

func (s *shop) gatewayRoutes(mux *http.ServeMux) {
	g := s.svcs["gateway"]
	route := func(pattern string, h func(ctx context.Context, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := g.tracer.Start(ctx, pattern, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", r.URL.Path),
					attribute.String("url.path", r.URL.Path)))
			defer span.End()
			start := time.Now()
			out, err := h(ctx, r)
			code := http.StatusOK
			if err != nil {
				code = http.StatusBadGateway
				if status.Code(errors.Unwrap(err)) == grpccodes.InvalidArgument {
					code = http.StatusBadRequest
				}
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
				g.log.Log(ctx, "error", "request failed", err, "method", r.Method, "path", r.URL.Path, "status", code)
				http.Error(w, err.Error(), code)
			} else {
				g.log.Log(ctx, "info", "request served", nil, "method", r.Method, "path", r.URL.Path, "status", code,
					"duration_ms", time.Since(start).Milliseconds())
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(out)
			}
			span.SetAttributes(attribute.Int("http.response.status_code", code))
			g.observe(pattern, fmt.Sprint(code), time.Since(start))
		})
	}
	route("GET /api/products", func(ctx context.Context, _ *http.Request) (any, error) {
		return s.gateway.catalog.Call(ctx, "ListProducts", &Msg{})
	})
	route("GET /api/products/{id}", func(ctx context.Context, r *http.Request) (any, error) {
		return s.gateway.catalog.Call(ctx, "GetProduct", &Msg{Product: r.PathValue("id")})
	})
	route("POST /api/cart", func(ctx context.Context, r *http.Request) (any, error) {
		var m Msg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("decode cart item: %w", err)
		}
		return s.gateway.cart.Call(ctx, "AddItem", &m)
	})
	route("POST /api/checkout", func(ctx context.Context, r *http.Request) (any, error) {
		var m Msg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("decode checkout: %w", err)
		}
		return s.gateway.checkout.Call(ctx, "PlaceOrder", &m)
	})
}

// ---- catalog ----

func (s *shop) catalogList(ctx context.Context, _ *Msg) (*Msg, error) {
	c := s.svcs["catalog"]
	if err := s.pools["catalog"].query(ctx, "SELECT id, name, price FROM products ORDER BY name LIMIT 50", 2*time.Millisecond); err != nil {
		return nil, err
	}
	c.log.Log(ctx, "info", "listed products", nil, "count", len(products))
	return &Msg{Products: products}, nil
}

func (s *shop) catalogGet(ctx context.Context, req *Msg) (*Msg, error) {
	c := s.svcs["catalog"]
	if s.faults.On(FaultLatency) {
		d := 800*time.Millisecond + rand.N(400*time.Millisecond)
		c.log.Log(ctx, "warn", "slow product lookup", nil, "product", req.Product, "cache", "miss", "delay_ms", d.Milliseconds())
		time.Sleep(d)
	}
	if err := s.pools["catalog"].query(ctx, "SELECT id, name, price FROM products WHERE id = $1", time.Millisecond); err != nil {
		return nil, err
	}
	for _, p := range products {
		if p.ID == req.Product {
			c.log.Log(ctx, "info", "product found", nil, "product", p.ID)
			return &Msg{Products: []Product{p}}, nil
		}
	}
	c.log.Log(ctx, "warn", "product not found", nil, "product", req.Product)
	return nil, status.Errorf(grpccodes.NotFound, "product %q not found", req.Product)
}

// ---- cart ----

func (s *shop) cartAdd(ctx context.Context, req *Msg) (*Msg, error) {
	c := s.svcs["cart"]
	if req.User == "" || req.Product == "" || req.Qty < 1 {
		return nil, status.Error(grpccodes.InvalidArgument, "user, product and a positive qty are required")
	}
	if s.faults.On(FaultForbidden) {
		// The bug the fault stands for: cart pre-authorizes the card
		// itself instead of leaving payment to checkout.
		if _, err := s.cart.payment.Call(ctx, "Charge", &Msg{User: req.User, Amount: 0.01}); err != nil {
			c.log.Log(ctx, "warn", "card pre-authorization failed", err, "user", req.User)
		} else {
			c.log.Log(ctx, "info", "card pre-authorized", nil, "user", req.User)
		}
	}
	s.mu.Lock()
	s.carts[req.User] = append(s.carts[req.User], Item{Product: req.Product, Qty: req.Qty})
	n := len(s.carts[req.User])
	s.mu.Unlock()
	c.log.Log(ctx, "info", "item added", nil, "user", req.User, "product", req.Product, "qty", req.Qty, "lines", n)
	return &Msg{User: req.User, Items: s.cartItems(req.User)}, nil
}

func (s *shop) cartItems(user string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Item(nil), s.carts[user]...)
}

func (s *shop) cartGet(ctx context.Context, req *Msg) (*Msg, error) {
	items := s.cartItems(req.User)
	s.svcs["cart"].log.Log(ctx, "info", "cart read", nil, "user", req.User, "lines", len(items))
	return &Msg{User: req.User, Items: items}, nil
}

func (s *shop) cartClear(ctx context.Context, req *Msg) (*Msg, error) {
	s.mu.Lock()
	delete(s.carts, req.User)
	s.mu.Unlock()
	s.svcs["cart"].log.Log(ctx, "info", "cart cleared", nil, "user", req.User)
	return &Msg{User: req.User}, nil
}

// ---- checkout ----

func (s *shop) checkoutPlace(ctx context.Context, req *Msg) (*Msg, error) {
	c := s.svcs["checkout"]
	cart, err := s.check.cart.Call(ctx, "GetCart", &Msg{User: req.User})
	if err != nil {
		c.log.Log(ctx, "error", "cannot read cart", err, "user", req.User)
		return nil, status.Error(grpccodes.Unavailable, err.Error())
	}
	if len(cart.Items) == 0 {
		return nil, status.Error(grpccodes.FailedPrecondition, "cart is empty")
	}
	var total float64
	for _, it := range cart.Items {
		if _, err := s.check.inventory.Call(ctx, "Reserve", &Msg{Product: it.Product, Qty: it.Qty}); err != nil {
			c.log.Log(ctx, "error", "reservation failed", err, "user", req.User, "product", it.Product)
			return nil, status.Error(grpccodes.Aborted, err.Error())
		}
		for _, p := range products {
			if p.ID == it.Product {
				total += p.Price * float64(it.Qty)
			}
		}
	}
	q := s.pools["checkout"].query
	if s.faults.On(FaultPool) {
		q = s.pools["checkout"].queryLeaking
	}
	if err := q(ctx, "INSERT INTO orders (user_id, total) VALUES ($1, $2)", 3*time.Millisecond); err != nil {
		c.log.Log(ctx, "error", "cannot store order", err, "user", req.User)
		return nil, status.Error(grpccodes.Unavailable, err.Error())
	}
	if _, err := s.check.payment.Call(ctx, "Charge", &Msg{User: req.User, Amount: total}); err != nil {
		c.log.Log(ctx, "error", "payment failed", err, "user", req.User, "amount", fmt.Sprintf("%.2f", total))
		return nil, status.Error(grpccodes.Aborted, err.Error())
	}
	order := fmt.Sprintf("o-%d", rand.N(1_000_000))
	publish(ctx, c, "orders", order)
	if _, err := s.check.cart.Call(ctx, "Clear", &Msg{User: req.User}); err != nil {
		c.log.Log(ctx, "warn", "cannot clear cart", err, "user", req.User)
	}
	c.log.Log(ctx, "info", "order placed", nil, "order", order, "user", req.User, "total", fmt.Sprintf("%.2f", total))
	return &Msg{OrderID: order, Amount: total}, nil
}

// ---- payment ----

func (s *shop) paymentCharge(ctx context.Context, req *Msg) (*Msg, error) {
	c := s.svcs["payment"]
	if err := s.pools["payment"].query(ctx, "INSERT INTO transactions (user_id, amount) VALUES ($1, $2)", 2*time.Millisecond); err != nil {
		c.log.Log(ctx, "error", "cannot record transaction", err, "user", req.User)
		return nil, status.Error(grpccodes.Unavailable, err.Error())
	}
	time.Sleep(time.Duration(5+rand.N(15)) * time.Millisecond) // the card network
	if s.faults.On(FaultErrors) && rand.N(2) == 0 {
		err := &faultError{msg: "card network declined: upstream 503 from acquirer", javaClass: "shop.payment.AcquirerException",
			cause: "java.net.SocketTimeoutException: Read timed out"}
		c.log.Log(ctx, "error", "charge failed", err, "user", req.User, "amount", fmt.Sprintf("%.2f", req.Amount))
		return nil, status.Error(grpccodes.Unavailable, err.Error())
	}
	c.log.Log(ctx, "info", "charge accepted", nil, "user", req.User, "amount", fmt.Sprintf("%.2f", req.Amount))
	return &Msg{User: req.User, Amount: req.Amount}, nil
}

// ---- inventory ----

func (s *shop) inventoryReserve(ctx context.Context, req *Msg) (*Msg, error) {
	c := s.svcs["inventory"]
	if err := s.pools["inventory"].query(ctx, "UPDATE stock SET reserved = reserved + $2 WHERE product_id = $1", 2*time.Millisecond); err != nil {
		c.log.Log(ctx, "error", "reservation failed", err, "product", req.Product)
		return nil, status.Error(grpccodes.Unavailable, err.Error())
	}
	c.log.Log(ctx, "info", "stock reserved", nil, "product", req.Product, "qty", req.Qty)
	return req, nil
}

// ---- the uninstrumented database and queue ----

// dbPool simulates a connection pool to PostgreSQL: a query takes a
// connection (waiting at most waitTimeout), holds it, and is traced as a
// client span naming the peer, so the database shows as a node.
type dbPool struct {
	svc         *service
	conns       chan struct{}
	waitTimeout time.Duration
	inUse       prometheus.Gauge
	timeouts    prometheus.Counter
}

func newDBPool(svc *service, size int) *dbPool {
	p := &dbPool{svc: svc, conns: make(chan struct{}, size), waitTimeout: 150 * time.Millisecond,
		inUse: prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_db_pool_connections_in_use", Help: "Database connections taken from the pool.",
			ConstLabels: prometheus.Labels{"service": svc.name}}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_db_pool_timeouts_total", Help: "Queries that timed out waiting for a pooled connection.",
			ConstLabels: prometheus.Labels{"service": svc.name}}),
	}
	svc.reg.MustRegister(p.inUse, p.timeouts)
	return p
}

// leakFor is how long queryLeaking keeps a connection after its query.
const leakFor = 15 * time.Second

func (p *dbPool) query(ctx context.Context, stmt string, hold time.Duration) error {
	return p.run(ctx, stmt, hold, false)
}

// queryLeaking is query with the bug the pool fault stands for: the
// connection goes back to the pool only leakFor after the query, so
// steady traffic drains the pool and later queries time out waiting.
func (p *dbPool) queryLeaking(ctx context.Context, stmt string, hold time.Duration) error {
	return p.run(ctx, stmt, hold, true)
}

func (p *dbPool) run(ctx context.Context, stmt string, hold time.Duration, leak bool) error {
	ctx, span := p.svc.tracer.Start(ctx, "postgres "+firstWord(stmt), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.String("peer.service", "postgres"),
			attribute.String("db.name", "shop"), attribute.String("db.statement", stmt),
			attribute.String("server.address", "postgres"), attribute.Int("server.port", 5432)))
	defer span.End()
	t := time.NewTimer(p.waitTimeout)
	defer t.Stop()
	select {
	case p.conns <- struct{}{}:
	case <-t.C:
		p.timeouts.Inc()
		err := &faultError{
			msg:       fmt.Sprintf("ShopPool - Connection is not available, request timed out after %dms", p.waitTimeout.Milliseconds()),
			javaClass: "java.sql.SQLTransientConnectionException",
			cause:     fmt.Sprintf("shop.db.PoolExhaustedException: all %d connections in use", cap(p.conns)),
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	p.inUse.Inc()
	time.Sleep(hold)
	release := func() { p.inUse.Dec(); <-p.conns }
	if leak {
		time.AfterFunc(leakFor, release)
	} else {
		release()
	}
	return nil
}

// publish traces a Kafka produce; the broker is a node of its own.
func publish(ctx context.Context, svc *service, topic, key string) {
	_, span := svc.tracer.Start(ctx, topic+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.operation.type", "publish"), attribute.String("peer.service", "kafka"),
			attribute.String("messaging.kafka.message.key", key)))
	time.Sleep(time.Millisecond)
	span.End()
}

func firstWord(s string) string {
	for i, r := range s {
		if r == ' ' {
			return s[:i]
		}
	}
	return s
}
