package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"

	"github.com/sightline/sightline/internal/failure"
)

func TestDecodeRoundTrips(t *testing.T) {
	plain := bytes.Repeat([]byte("hello sightline "), 100)
	var gzb bytes.Buffer
	zw := gzip.NewWriter(&gzb)
	zw.Write(plain)
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	for name, tc := range map[string]struct {
		enc  string
		body []byte
	}{
		"identity": {"", plain},
		"gzip":     {"gzip", gzb.Bytes()},
		"zstd":     {"zstd", enc.EncodeAll(plain, nil)},
		"snappy":   {"snappy", snappy.Encode(nil, plain)},
		"framed":   {"snappy", framedSnappy(plain)},
	} {
		got, err := Decode(tc.body, tc.enc, 1<<20)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: %v (%d bytes)", name, err, len(got))
		}
	}
}

func framedSnappy(b []byte) []byte {
	var buf bytes.Buffer
	w := snappy.NewBufferedWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestDecodeBoundsOutput(t *testing.T) {
	zeros := make([]byte, 10<<20)
	var gzb bytes.Buffer
	zw := gzip.NewWriter(&gzb)
	zw.Write(zeros)
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	for name, tc := range map[string]struct {
		enc  string
		body []byte
	}{
		"gzip bomb":   {"gzip", gzb.Bytes()},
		"zstd bomb":   {"zstd", enc.EncodeAll(zeros, nil)},
		"snappy bomb": {"snappy", snappy.Encode(nil, zeros)},
	} {
		_, err := Decode(tc.body, tc.enc, 1<<20)
		if !errors.Is(err, failure.ErrTooLarge) {
			t.Errorf("%s: want ErrTooLarge, got %v", name, err)
		}
	}
	if _, err := Decode([]byte("x"), "br", 10); !errors.Is(err, failure.ErrUnsupported) {
		t.Errorf("unknown encoding: %v", err)
	}
}

func TestReadBodyLimits(t *testing.T) {
	lim := NewLimiter(100, nil)
	r := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, 50)))
	body, release, err := ReadBody(r, 60, lim)
	if err != nil || len(body) != 50 || lim.InUse() != 50 {
		t.Fatalf("ReadBody: %v, %d bytes, %d reserved", err, len(body), lim.InUse())
	}
	// The budget has 50 left: a second 60-byte request is refused.
	r2 := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, 60)))
	if _, _, err := ReadBody(r2, 60, lim); !errors.Is(err, failure.ErrOverloaded) {
		t.Fatalf("want overload, got %v", err)
	}
	release()
	if lim.InUse() != 0 {
		t.Fatalf("release left %d", lim.InUse())
	}
	r3 := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, 61)))
	if _, _, err := ReadBody(r3, 60, lim); !errors.Is(err, failure.ErrTooLarge) {
		t.Fatalf("want too large, got %v", err)
	}
	if lim.InUse() != 0 {
		t.Fatalf("a failed read left %d reserved", lim.InUse())
	}
}

// A compressed body is charged for what it decodes to, not for its few
// wire bytes; a request bigger than the budget still gets through when
// nothing else is in flight.
func TestReadBodyChargesDecodedBytes(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 1000))
	zw.Close()
	gzipped := func() *http.Request {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(gz.Bytes()))
		r.Header.Set("Content-Encoding", "gzip")
		return r
	}
	lim := NewLimiter(1500, nil)
	body, release, err := ReadBody(gzipped(), 4096, lim)
	if err != nil || len(body) != 1000 || lim.InUse() != 1000 {
		t.Fatalf("ReadBody: %v, %d bytes, %d reserved (want the 1000 decoded)", err, len(body), lim.InUse())
	}
	if _, _, err := ReadBody(gzipped(), 4096, lim); !errors.Is(err, failure.ErrOverloaded) {
		t.Fatalf("a second body decoding to 1000 bytes fit a 1500-byte budget with 1000 in use: %v", err)
	}
	if lim.InUse() != 1000 {
		t.Fatalf("the refused request left %d reserved", lim.InUse()-1000)
	}
	release()
	small := NewLimiter(500, nil)
	_, release, err = ReadBody(gzipped(), 4096, small)
	if err != nil {
		t.Fatalf("alone, a body over the budget is admitted: %v", err)
	}
	release()
	if lim.InUse() != 0 || small.InUse() != 0 {
		t.Fatalf("released budgets still hold %d and %d", lim.InUse(), small.InUse())
	}
}

// FuzzDecode: no encoding ever panics or returns more than the limit.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("plain"), uint8(0))
	f.Add(snappy.Encode(nil, []byte("snappy")), uint8(3))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, uint8(1))
	encs := []string{"", "gzip", "zstd", "snappy", "deflate"}
	f.Fuzz(func(t *testing.T, body []byte, e uint8) {
		out, err := Decode(body, encs[int(e)%len(encs)], 4096)
		if err == nil && len(out) > 4096 {
			t.Fatalf("decoded %d bytes past the limit", len(out))
		}
	})
}
