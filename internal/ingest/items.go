package ingest

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sightline/sightline/internal/failure"
)

// Decoded memory follows the items of a request more than its bytes: an
// empty OTLP log record is 2 bytes on the wire and about a kilobyte once
// decoded into a row. Edges therefore count a request's items before
// decoding it (cheaply, without allocating) and grow its reservation by a
// cost per item; a request whose estimate exceeds the whole budget can
// never be served and is refused as too large.

// Per-item decoded memory estimates, in bytes, measured on empty items (the
// worst case per wire byte).
const (
	// CostRow is a log record, span or span event: decoded object plus
	// its stored row.
	CostRow = 1024
	// CostSeries is a remote-write time series or OTLP metric data point.
	CostSeries = 512
	// CostSample is one remote-write sample.
	CostSample = 32
	// CostLine is a line of an NDJSON body (JSON lines, Elasticsearch
	// _bulk): its row aliases the body's bytes.
	CostLine = 512
)

// CountLines counts the lines of an NDJSON body (an upper bound on its
// rows), without allocating.
func CountLines(b []byte) int {
	return bytes.Count(b, []byte{'\n'}) + 1
}

// CountProto counts the protobuf messages found at the end of each path of
// field numbers, starting from the top-level message b: path {1, 2, 2}
// counts field 2 of field 2 of field 1. It reads b once, without
// allocating for paths of up to eight numbers, and fails on malformed
// protobuf.
func CountProto(b []byte, paths ...[]protowire.Number) (int, error) {
	n, err := countPaths(b, paths, 0)
	if err != nil {
		return 0, fmt.Errorf("count protobuf items: %w", err)
	}
	return n, nil
}

// countPaths counts, in message b at nesting depth d, the fields ending a
// path and descends into those continuing one.
func countPaths(b []byte, paths [][]protowire.Number, d int) (int, error) {
	n := 0
	var deeperBuf [8][]protowire.Number
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0, protowire.ParseError(l)
		}
		b = b[l:]
		if typ != protowire.BytesType {
			if l = protowire.ConsumeFieldValue(num, typ, b); l < 0 {
				return 0, protowire.ParseError(l)
			}
			b = b[l:]
			continue
		}
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return 0, protowire.ParseError(l)
		}
		b = b[l:]
		deeper := deeperBuf[:0]
		for _, p := range paths {
			switch {
			case p[d] != num:
			case len(p) == d+1:
				n++
			default:
				deeper = append(deeper, p)
			}
		}
		if len(deeper) > 0 {
			c, err := countPaths(v, deeper, d+1)
			if err != nil {
				return 0, err
			}
			n += c
		}
	}
	return n, nil
}

// GrowForItems grows the reservation to body bytes plus cost for the
// items, or fails with failure.ErrTooLarge when that estimate exceeds the
// limiter's whole budget (the request could never be admitted) and with
// failure.ErrOverloaded when the budget is used up for now.
func (r *Reservation) GrowForItems(body int, items int, what string, cost int64) error {
	return r.GrowForEstimate(int64(body)+int64(items)*cost, fmt.Sprintf("%d %s", items, what))
}

// GrowForEstimate is GrowForItems for an estimate need of the decoded
// memory already summed over several kinds of items, described by what.
func (r *Reservation) GrowForEstimate(need int64, what string) error {
	if r.l == nil {
		return nil
	}
	if need > r.l.max {
		return fmt.Errorf("request carries %s, about %d bytes once decoded, over the %d-byte in-flight budget (limits.max_inflight_bytes); send smaller batches: %w",
			what, need, r.l.max, failure.ErrTooLarge)
	}
	return r.GrowTo(need)
}

// ItemCounter is a gRPC request that can estimate, before it is decoded,
// the memory its items take once decoded (limitUnary grows its
// reservation by that), and describe them for an error message.
type ItemCounter interface {
	CountItems() (cost int64, what string, err error)
}

// CostAttr is one resource or scope attribute copied into a row.
const CostAttr = 64

// OTLPRowsCost estimates the decoded memory of an OTLP logs or traces
// export request before decoding it: each log record or span (and, with
// events, each span event) is a row, and every row carries a copy of its
// resource's and scope's attributes. b is ExportLogsServiceRequest or
// ExportTraceServiceRequest: resource_* (1) { resource (1) { attributes
// (1) }, scope_* (2) { scope (1) { attributes (3) }, records or spans (2)
// { events (11) } } }.
func OTLPRowsCost(b []byte, events bool) (rows int, cost int64, err error) {
	err = EachField(b, func(num protowire.Number, rs []byte) error {
		if num != 1 {
			return nil
		}
		var resAttrs int
		type scope struct{ attrs, rows int }
		var scopes []scope
		err := EachField(rs, func(num protowire.Number, v []byte) error {
			switch num {
			case 1:
				return EachField(v, func(num protowire.Number, _ []byte) error {
					if num == 1 {
						resAttrs++
					}
					return nil
				})
			case 2:
				var sc scope
				err := EachField(v, func(num protowire.Number, v []byte) error {
					switch num {
					case 1:
						return EachField(v, func(num protowire.Number, _ []byte) error {
							if num == 3 {
								sc.attrs++
							}
							return nil
						})
					case 2:
						sc.rows++
						if events {
							return EachField(v, func(num protowire.Number, _ []byte) error {
								if num == 11 {
									sc.rows++
								}
								return nil
							})
						}
					}
					return nil
				})
				scopes = append(scopes, sc)
				return err
			}
			return nil
		})
		for _, sc := range scopes {
			rows += sc.rows
			cost += int64(sc.rows) * (CostRow + CostAttr*int64(resAttrs+sc.attrs))
		}
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count OTLP rows: %w", err)
	}
	return rows, cost, nil
}

// EachField calls fn with the number and contents of each length-delimited
// field of protobuf message b, skipping the others, and stops at fn's first
// error or at malformed input.
func EachField(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if typ != protowire.BytesType {
			if l = protowire.ConsumeFieldValue(num, typ, b); l < 0 {
				return protowire.ParseError(l)
			}
			b = b[l:]
			continue
		}
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}
