package eventstore

import (
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// The table finds every entry it was given, and nothing else, through
// growth and with hashes that collide (every tenth entry shares one hash).
func TestPtrTable(t *testing.T) {
	type entry struct{ k string }
	hash := func(e *entry) uint64 {
		if n, _ := strconv.Atoi(e.k); n%10 == 0 {
			return 42
		}
		return xxhash.Sum64String(e.k)
	}
	var tb ptrTable[entry]
	var all []*entry
	for i := range 5000 {
		e := &entry{strconv.Itoa(i)}
		h := hash(e)
		if tb.find(h, func(o *entry) bool { return o.k == e.k }) != nil {
			t.Fatalf("%q found before it was added", e.k)
		}
		tb.add(h, e, hash)
		all = append(all, e)
		if 4*tb.len() > 3*len(tb.slots) {
			t.Fatalf("%d entries in %d slots", tb.len(), len(tb.slots))
		}
	}
	for _, e := range all {
		if got := tb.find(hash(e), func(o *entry) bool { return o.k == e.k }); got != e {
			t.Fatalf("find(%q) = %v", e.k, got)
		}
	}
	seen := map[*entry]bool{}
	for e := range tb.all() {
		if seen[e] {
			t.Fatalf("%q yielded twice", e.k)
		}
		seen[e] = true
	}
	if len(seen) != len(all) || tb.len() != len(all) {
		t.Fatalf("yielded %d, len %d, want %d", len(seen), tb.len(), len(all))
	}
	missing := &entry{"x"}
	if tb.find(hash(missing), func(o *entry) bool { return o.k == missing.k }) != nil {
		t.Fatal("found an entry never added")
	}
}
