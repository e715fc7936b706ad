package logql

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

const benchJSONLine = `{"ts":"2026-11-24T15:27:58.123456Z","level":"error","logger":"checkout.payment","msg":"payment authorization failed for order","status":502,"duration":"183ms","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","http":{"method":"POST","path":"/api/v1/payments/authorize","client_ip":"10.42.7.19","user_agent":"checkout-svc/1.8.2"},"user":{"id":"u-918273","tier":"gold"},"retry":2}`

func benchPipeline(b *testing.B, q string, line string) {
	e, err := ParseLogExpr(q)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPipeline(e.Stages)
	if err != nil {
		b.Fatal(err)
	}
	stream := labels.FromStrings("app", "checkout", "env", "prod")
	meta := labels.EmptyLabels()
	if _, ok := p.Process(0, line, stream, meta); !ok {
		b.Fatal("line dropped")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Process(int64(i), line, stream, meta)
	}
}

// BenchmarkPipelineFilterJSONLabelFilter is the hot path of most queries:
// a line filter, the json parser and a numeric label filter.
func BenchmarkPipelineFilterJSONLabelFilter(b *testing.B) {
	benchPipeline(b, `{app="checkout"} |= "payment" | json | status >= 500`, benchJSONLine)
}

func BenchmarkPipelineJSONParams(b *testing.B) {
	benchPipeline(b, `{app="checkout"} | json status, method="http.method" | status >= 500`, benchJSONLine)
}

func BenchmarkPipelineLogfmt(b *testing.B) {
	benchPipeline(b, `{app="checkout"} |= "payment" | logfmt | status >= 500 | level="error"`,
		`ts=2026-11-24T15:27:58.123Z level=error logger=checkout.payment msg="payment authorization failed for order" status=502 duration=183ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736 method=POST path=/api/v1/payments/authorize`)
}

func BenchmarkPipelineRegexFilter(b *testing.B) {
	benchPipeline(b, `{app="checkout"} |~ "trace_id\":\"4bf9[0-9a-f]+"`, benchJSONLine)
}

func BenchmarkPipelineCaseInsensitiveFilter(b *testing.B) {
	benchPipeline(b, `{app="checkout"} |~ "(?i)AUTHORIZATION failed"`, benchJSONLine)
}

func BenchmarkParse(b *testing.B) {
	q := `sum by (level) (count_over_time({app="checkout", env=~"prod|staging"} |= "payment" | json | status >= 500 and duration > 100ms [5m]))`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseExpr(q); err != nil {
			b.Fatal(err)
		}
	}
}
