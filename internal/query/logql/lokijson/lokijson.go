// Package lokijson encodes logql results in the JSON shapes of Loki's query
// HTTP API (/loki/api/v1/query and query_range), which Grafana's Loki data
// source and logcli parse. Encoding is stateless and safe for concurrent use.
package lokijson

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
)

// AppendResponse appends {"status":"success","data":{...}} for res to dst.
// execTime is reported in the stats summary.
func AppendResponse(dst []byte, res *logql.Result, execTime time.Duration) []byte {
	dst = append(dst, `{"status":"success","data":{"resultType":"`...)
	dst = append(dst, res.Type...)
	dst = append(dst, `","result":`...)
	dst = AppendResult(dst, res)
	dst = append(dst, `,"stats":`...)
	dst = appendStats(dst, res, execTime)
	return append(dst, "}}"...)
}

// AppendResult appends the "result" value for res to dst.
func AppendResult(dst []byte, res *logql.Result) []byte {
	switch res.Type {
	case logql.TypeStreams:
		dst = append(dst, '[')
		for i, s := range res.Streams {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"stream":`...)
			dst = appendLabels(dst, s.Labels)
			dst = append(dst, `,"values":[`...)
			for j, e := range s.Entries {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `["`...)
				dst = strconv.AppendInt(dst, e.Timestamp, 10)
				dst = append(dst, `",`...)
				dst = appendJSONString(dst, e.Line)
				dst = append(dst, ']')
			}
			dst = append(dst, "]}"...)
		}
		return append(dst, ']')
	case logql.TypeMatrix:
		dst = append(dst, '[')
		for i, s := range res.Matrix {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"metric":`...)
			dst = appendLabels(dst, s.Labels)
			dst = append(dst, `,"values":[`...)
			for j, p := range s.Points {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendPoint(dst, p.T, p.V)
			}
			dst = append(dst, "]}"...)
		}
		return append(dst, ']')
	case logql.TypeVector:
		dst = append(dst, '[')
		for i, s := range res.Vector {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"metric":`...)
			dst = appendLabels(dst, s.Labels)
			dst = append(dst, `,"value":`...)
			dst = appendPoint(dst, s.T, s.V)
			dst = append(dst, '}')
		}
		return append(dst, ']')
	case logql.TypeScalar:
		return appendPoint(dst, res.Scalar.T, res.Scalar.V)
	}
	return append(dst, "null"...)
}

// appendLabels appends a JSON object of label names to values.
func appendLabels(dst []byte, ls labels.Labels) []byte {
	dst = append(dst, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, l.Name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, l.Value)
	})
	return append(dst, '}')
}

// appendPoint appends [<unix seconds>, "<value>"].
func appendPoint(dst []byte, tNanos int64, v float64) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendFloat(dst, float64(tNanos)/1e9, 'f', -1, 64)
	dst = append(dst, `,"`...)
	dst = AppendValue(dst, v)
	return append(dst, `"]`...)
}

// AppendValue formats a sample value as Prometheus and Loki do.
func AppendValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, replacing invalid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			dst = append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

func appendStats(dst []byte, res *logql.Result, execTime time.Duration) []byte {
	returned := 0
	for _, s := range res.Streams {
		returned += len(s.Entries)
	}
	secs := execTime.Seconds()
	bps := 0.0
	if secs > 0 {
		bps = float64(res.Stats.BytesScanned) / secs
	}
	dst = append(dst, `{"summary":{"bytesProcessedPerSecond":`...)
	dst = strconv.AppendInt(dst, int64(bps), 10)
	dst = append(dst, `,"linesProcessedPerSecond":`...)
	lps := 0.0
	if secs > 0 {
		lps = float64(res.Stats.EntriesScanned) / secs
	}
	dst = strconv.AppendInt(dst, int64(lps), 10)
	dst = append(dst, `,"totalBytesProcessed":`...)
	dst = strconv.AppendInt(dst, res.Stats.BytesScanned, 10)
	dst = append(dst, `,"totalLinesProcessed":`...)
	dst = strconv.AppendInt(dst, res.Stats.EntriesScanned, 10)
	dst = append(dst, `,"totalEntriesReturned":`...)
	dst = strconv.AppendInt(dst, int64(returned), 10)
	dst = append(dst, `,"execTime":`...)
	dst = strconv.AppendFloat(dst, secs, 'f', -1, 64)
	return append(dst, "}}"...)
}
