package eventstore

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func checkLitSearch(t *testing.T, data []byte, lit string, fold bool) {
	t.Helper()
	if fold {
		lit = string(lowerASCIIInto(nil, []byte(lit)))
	}
	s := newLitSearcher(lit, fold)
	in := data
	if s.needsLower() {
		in = lowerASCIIInto(nil, data)
	}
	for from := 0; from <= len(data); from += 1 + len(data)/7 {
		want := refIndexASCII(data, lit, fold, from)
		if got := s.index(in, from); got != want {
			t.Fatalf("index(%q in %q from %d, fold %v) = %d, want %d", lit, data, from, fold, got, want)
		}
	}
}

// refIndexASCII folds ASCII letters only, as the store does.
func refIndexASCII(data []byte, lit string, fold bool, from int) int {
	if fold {
		data = lowerASCIIInto(nil, data)
	}
	i := bytes.Index(data[from:], []byte(lit))
	if i < 0 {
		return -1
	}
	return from + i
}

func TestLitSearch(t *testing.T) {
	line := "2026-11-20 12:00:19.985 ERROR 1 --- [nio-8080-exec-14] c.e.shop.InventoryService : restock order=292384\njava.lang.IllegalStateException: stock reservation failed for sku 6139\n\tat com.example.shop.InventoryClient.reserve(InventoryClient.java:87)\n"
	for _, tc := range []struct {
		lit  string
		fold bool
	}{
		{"exception: ", false}, {"Exception: ", false}, {"EXCEPTION: ", true},
		{"sku 6139", false}, {"sku 6140", false}, {"e", false}, {"E", true},
		{"inventory", true}, {"java:87)\n", false}, {"=292384", true},
		{"zzz", false}, {line[len(line)-5:], false}, {line[:9], true},
	} {
		checkLitSearch(t, []byte(line), tc.lit, tc.fold)
		checkLitSearch(t, []byte(strings.Repeat(line, 3)), tc.lit, tc.fold)
		checkLitSearch(t, nil, tc.lit, tc.fold)
	}
}

// TestLitSearchCommonRareByte covers the hand-over to bytes.Index: the
// chosen byte ('#', ranked rare) is in almost every position of the data.
func TestLitSearchCommonRareByte(t *testing.T) {
	data := []byte(strings.Repeat("#a", 5000) + "#b" + strings.Repeat("#a", 10))
	checkLitSearch(t, data, "#b", false)
	checkLitSearch(t, data, "#B", true)
	checkLitSearch(t, data, "#c", false)
}

func TestLitSearchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const alphabet = "aAbB:: 01\n"
	for range 3000 {
		data := make([]byte, r.IntN(80))
		for i := range data {
			data[i] = alphabet[r.IntN(len(alphabet))]
		}
		lit := make([]byte, 1+r.IntN(4))
		for i := range lit {
			lit[i] = alphabet[r.IntN(len(alphabet))]
		}
		checkLitSearch(t, data, string(lit), r.IntN(2) == 0)
	}
}

func FuzzLitSearch(f *testing.F) {
	f.Add([]byte("java.lang.IllegalStateException: stock"), "exception: ", true)
	f.Add([]byte("#a#a#a#b"), "#b", false)
	f.Fuzz(func(t *testing.T, data []byte, lit string, fold bool) {
		if lit == "" || len(lit) > 64 {
			return
		}
		checkLitSearch(t, data, lit, fold)
	})
}

// BenchmarkLitSearch compares the rare-byte search with bytes.Index over
// Java stack-trace text, for a literal present once at the end.
func BenchmarkLitSearch(b *testing.B) {
	line := "2026-11-20 12:00:19.985 ERROR 1 --- [nio-8080-exec-14] c.e.shop.InventoryService : restock order=292384 trace_id=3fd145e44882330212f68fe1a5050264\njava.lang.IllegalStateException: stock reservation failed for sku 6139\n\tat com.example.shop.InventoryClient.reserve(InventoryClient.java:87)\n\tat com.example.shop.CheckoutService.placeOrder(CheckoutService.java:142)\n"
	data := []byte(strings.Repeat(line, 4000) + "needle: found")
	for _, bc := range []struct {
		name, lit string
		fold      bool
	}{
		{"literal", "needle: ", false},
		{"fold", "needle: ", true},
	} {
		b.Run(bc.name+"/bytes.Index", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var scratch []byte
			for range b.N {
				in := data
				if bc.fold {
					scratch = lowerASCIIInto(scratch, data)
					in = scratch
				}
				if bytes.Index(in, []byte(bc.lit)) < 0 {
					b.Fatal("not found")
				}
			}
		})
		b.Run(bc.name+"/rare-byte", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			s := newLitSearcher(bc.lit, bc.fold)
			for range b.N {
				if s.index(data, 0) < 0 {
					b.Fatal("not found")
				}
			}
		})
	}
}
