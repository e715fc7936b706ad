package logstore

import (
	"context"
	"net/http"

	"google.golang.org/grpc/metadata"
)

type tenantKey struct{}

// WithTenant returns ctx carrying a tenant for OTLPSink.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant set by WithTenant, else the x-scope-orgid
// gRPC metadata ("" when none).
func TenantFrom(ctx context.Context) string {
	if t, ok := ctx.Value(tenantKey{}).(string); ok {
		return t
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-scope-orgid"); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// RequestContext puts a request's X-Sightline-Batch-Id and X-Scope-OrgID
// headers into its context, where OTLPSink (behind a receiver that passes
// only the context) finds them. Wrap the mux that serves OTLP/HTTP with it.
func RequestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, org := r.Header.Get(BatchIDHeader), r.Header.Get("X-Scope-OrgID")
		if id != "" || org != "" {
			ctx := r.Context()
			if id != "" {
				ctx = WithBatchID(ctx, id)
			}
			if org != "" {
				ctx = WithTenant(ctx, org)
			}
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}
