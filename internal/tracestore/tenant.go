package tracestore

import (
	"context"
	"net/http"
)

// TenantHeader is the HTTP header (and, lower-cased, the gRPC metadata key)
// naming the tenant of a request, as Loki, Tempo and Mimir use it.
const TenantHeader = "X-Scope-OrgID"

type tenantKey struct{}

// WithTenant returns ctx carrying tenant for the Store's reads and the
// span-metrics queries ("" is the default tenant).
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant WithTenant put in ctx ("" when none).
func TenantFrom(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// RequestTenant returns the tenant named by r's X-Scope-OrgID header (""
// when absent: the default tenant).
func RequestTenant(r *http.Request) string { return r.Header.Get(TenantHeader) }

// tenant returns the tenant of a read: the one in ctx when set, else the
// Store's own.
func (s *Store) tenant(ctx context.Context) string {
	if t, ok := ctx.Value(tenantKey{}).(string); ok {
		return t
	}
	return s.Tenant
}
