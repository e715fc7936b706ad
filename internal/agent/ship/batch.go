// Package ship turns parsed records into OTLP/HTTP log batches and delivers
// them to a sightline server: protobuf, gzip-compressed, each batch with a
// stable id in the X-Sightline-Batch-Id header so the server can drop exact
// retries. Delivery retries 429, 5xx and network errors with exponential
// backoff and jitter; other 4xx answers reject the batch (reported, never
// retried forever).
//
// Batch carries, besides the OTLP payload, the file positions it completes,
// so the agent can checkpoint only what the server acknowledged. Batch
// encoding (used in the disk buffer) is documented on MarshalBatch.
//
// A Client is safe for concurrent use; Encoder is not.
package ship

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

// Batch is one unit of delivery.
type Batch struct {
	Seq       uint64
	ID        string
	Records   int // log records in Logs
	Positions []checkpoint.Position
	// Logs is an OTLP ExportLogsServiceRequest in protobuf encoding.
	Logs []byte
}

const batchVersion = 1

// MarshalBatch appends b's encoding to dst:
//
//	byte     version (1)
//	uvarint  seq
//	uvarint  len(id), id bytes
//	uvarint  records
//	uvarint  number of positions, then per position:
//	  uvarint len(path), path; uvarint dev; uvarint ino; uvarint fp len;
//	  uint64 LE fp hash; uvarint offset; byte flags (1 = closed);
//	  varint updated (Unix nanoseconds)
//	rest     OTLP protobuf payload
func MarshalBatch(dst []byte, b *Batch) []byte {
	dst = append(dst, batchVersion)
	dst = binary.AppendUvarint(dst, b.Seq)
	dst = appendString(dst, b.ID)
	dst = binary.AppendUvarint(dst, uint64(b.Records))
	dst = binary.AppendUvarint(dst, uint64(len(b.Positions)))
	for _, p := range b.Positions {
		dst = appendString(dst, p.Path)
		dst = binary.AppendUvarint(dst, p.Dev)
		dst = binary.AppendUvarint(dst, p.Ino)
		dst = binary.AppendUvarint(dst, uint64(p.FP.Len))
		dst = binary.LittleEndian.AppendUint64(dst, p.FP.Hash)
		dst = binary.AppendUvarint(dst, uint64(p.Offset))
		var flags byte
		if p.Closed {
			flags = 1
		}
		dst = append(dst, flags)
		dst = binary.AppendVarint(dst, p.Updated.UnixNano())
	}
	return append(dst, b.Logs...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errBatch = errors.New("decode batch: malformed")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBatch
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBatch
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errBatch
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// UnmarshalBatch decodes a batch; Logs aliases src.
func UnmarshalBatch(src []byte) (*Batch, error) {
	if len(src) == 0 || src[0] != batchVersion {
		return nil, fmt.Errorf("decode batch: unknown version")
	}
	d := &decoder{b: src[1:]}
	b := &Batch{Seq: d.uvarint()}
	b.ID = string(d.bytes(d.uvarint()))
	recs := d.uvarint()
	n := d.uvarint()
	if d.err == nil && (n > uint64(len(d.b)) || recs > math.MaxInt32) {
		return nil, errBatch
	}
	b.Records = int(recs)
	for i := uint64(0); i < n && d.err == nil; i++ {
		var p checkpoint.Position
		p.Path = string(d.bytes(d.uvarint()))
		p.Dev = d.uvarint()
		p.Ino = d.uvarint()
		fpLen := d.uvarint()
		if h := d.bytes(8); h != nil {
			p.FP.Hash = binary.LittleEndian.Uint64(h)
		}
		off := d.uvarint()
		flags := d.bytes(1)
		ns := d.varint()
		if d.err != nil {
			break
		}
		if fpLen > math.MaxInt32 || off > math.MaxInt64 || flags[0] > 1 {
			return nil, errBatch
		}
		p.FP.Len, p.Offset, p.Closed = int(fpLen), int64(off), flags[0] == 1
		p.Updated = time.Unix(0, ns).UTC()
		b.Positions = append(b.Positions, p)
	}
	if d.err != nil {
		return nil, d.err
	}
	b.Logs = d.b
	return b, nil
}
