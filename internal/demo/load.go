package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// loadGen drives shoppers against the gateway: browse the catalog, look at
// a product, add to the cart, check out.
type loadGen struct {
	base   string // gateway URL
	rps    float64
	client *http.Client
}

// run sends about rps requests per second until ctx ends.
func (l *loadGen) run(ctx context.Context) {
	t := time.NewTicker(time.Duration(float64(time.Second) / l.rps))
	defer t.Stop()
	sem := make(chan struct{}, 16) // bounds requests in flight when the shop is slow
	for {
		select {
		case <-ctx.Done():
			for range cap(sem) {
				sem <- struct{}{}
			}
			return
		case <-t.C:
		}
		select {
		case sem <- struct{}{}:
			go func() { defer func() { <-sem }(); l.session(ctx) }()
		default: // shop saturated: skip this tick
		}
	}
}

// session is one shopper's visit; the mix is weighted towards browsing.
func (l *loadGen) session(ctx context.Context) {
	user := fmt.Sprintf("u-%03d", rand.N(200))
	p := products[rand.N(len(products))].ID
	switch n := rand.N(10); {
	case n < 4:
		l.do(ctx, http.MethodGet, "/api/products", nil)
	case n < 7:
		l.do(ctx, http.MethodGet, "/api/products/"+p, nil)
	default:
		if !l.do(ctx, http.MethodPost, "/api/cart", Msg{User: user, Product: p, Qty: 1 + rand.N(3)}) {
			return
		}
		if n >= 8 {
			l.do(ctx, http.MethodPost, "/api/checkout", Msg{User: user})
		}
	}
}

func (l *loadGen) do(ctx context.Context, method, path string, body any) bool {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body) // Msg always marshals
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, rd)
	if err != nil {
		return false
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode < 300
}
