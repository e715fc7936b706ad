package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
)

// store records what it is offered; hold says whether it keeps the rows
// (a buffering sampler) or copies them at once (pass-through).
type store struct {
	hold bool
	err  error
	rows []model.Event
	kept [][]model.Event
}

func (s *store) PassThrough() bool { return !s.hold }

func (s *store) Offer(_ context.Context, rows []model.Event) error {
	if s.err != nil {
		return s.err
	}
	if s.hold {
		s.kept = append(s.kept, rows)
		return nil
	}
	// Like the event store, copy everything kept: the rows' memory is
	// the caller's.
	for _, r := range rows {
		r.Name, r.Tenant = strings.Clone(r.Name), strings.Clone(r.Tenant)
		r.Stream = r.Stream.Copy()
		attrs := make([]model.Attr, len(r.Attrs))
		for i, a := range r.Attrs {
			a.Key, a.Value.Str = strings.Clone(a.Key), strings.Clone(a.Value.Str)
			attrs[i] = a
		}
		r.Attrs = attrs
		s.rows = append(s.rows, r)
	}
	return nil
}

type deriver struct{ spans int }

func (d *deriver) ConsumeRows(rows []model.Event) {
	for _, r := range rows {
		if r.Signal == model.SignalSpan {
			d.spans++
		}
	}
}

type tenantKey struct{}

func tenantOf(ctx context.Context) string { s, _ := ctx.Value(tenantKey{}).(string); return s }

func traces(withMap bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "web")
	for i := range 3 {
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{15: 1})
		sp.SetSpanID(pcommon.SpanID{7: byte(i + 1)})
		sp.SetName("op")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0)))
		sp.Attributes().PutStr("k", "v")
		if withMap && i == 0 {
			sp.Attributes().PutEmptyMap("m").PutInt("x", 1)
		}
	}
	return td
}

func body(t *testing.T, td ptrace.Traces) []byte {
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConsumeTracesProto(t *testing.T) {
	for _, tc := range []struct {
		name    string
		withMap bool // forces the pdata fallback
		hold    bool
	}{
		{"fast path", false, false},
		{"fallback", true, false},
		{"sampler holds rows", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, d := &store{hold: tc.hold}, &deriver{}
			p, err := New(Options{Sampler: st, Derive: d, Tenant: tenantOf})
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, traces(tc.withMap))
			ctx := context.WithValue(context.Background(), tenantKey{}, "team-a")
			n, err := p.ConsumeTracesProto(ctx, b)
			if err != nil || n != 3 {
				t.Fatalf("n=%d err=%v, want 3 spans", n, err)
			}
			clear(b) // the caller reuses its buffer
			rows := st.rows
			if tc.hold {
				rows = st.kept[0]
			}
			if len(rows) != 3 || d.spans != 3 {
				t.Fatalf("stored %d rows, derived from %d, want 3", len(rows), d.spans)
			}
			for _, r := range rows {
				if r.Tenant != "team-a" || r.Name != "op" || r.Stream.Get("service_name") != "web" {
					t.Fatalf("row %+v: want tenant team-a, name op, service web", r)
				}
			}
		})
	}
}

func TestConsumeErrors(t *testing.T) {
	st, d := &store{}, &deriver{}
	p, _ := New(Options{Sampler: st, Derive: d})
	if _, err := p.ConsumeTracesProto(context.Background(), []byte{0xff, 0xff}); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("garbage: err %v, want ErrInvalid", err)
	}
	st.err = failure.ErrOverloaded
	if _, err := p.ConsumeTracesProto(context.Background(), body(t, traces(false))); !errors.Is(err, failure.ErrOverloaded) {
		t.Fatalf("refused batch: err %v, want the store's", err)
	}
	if err := p.ConsumeTraces(context.Background(), traces(false)); !errors.Is(err, failure.ErrOverloaded) {
		t.Fatalf("refused pdata batch: err %v", err)
	}
	if d.spans != 0 {
		t.Fatalf("derived %d spans from refused batches, want 0", d.spans)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a sampler succeeded")
	}
}
