package eventstore

import "iter"

// ptrTable is an open-addressing hash set of pointers (linear probing, at
// most three quarters full). A slot is 8 bytes, where a Go map slot holding
// a key and a pointer takes 16 plus control bytes and spare room: the stream
// registry and the head keep one entry per active stream, so this is RAM
// per stream (T8). Callers supply each entry's hash; the table never stores
// it, so growing rehashes every entry. Not safe for concurrent use.
type ptrTable[T any] struct {
	slots []*T
	n     int
}

// find returns the entry with hash h for which eq holds, or nil.
func (t *ptrTable[T]) find(h uint64, eq func(*T) bool) *T {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == nil || eq(v) {
			return v
		}
	}
}

// add inserts v, whose hash is h, which must not be in the table; hash
// gives the hash of any entry when the table grows.
func (t *ptrTable[T]) add(h uint64, v *T, hash func(*T) uint64) {
	if 4*(t.n+1) > 3*len(t.slots) {
		old := t.slots
		t.slots = make([]*T, max(2*len(old), 64))
		for _, o := range old {
			if o != nil {
				t.put(hash(o), o)
			}
		}
	}
	t.put(h, v)
	t.n++
}

func (t *ptrTable[T]) put(h uint64, v *T) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = v
}

// len returns the number of entries.
func (t *ptrTable[T]) len() int { return t.n }

// all yields every entry, in no particular order.
func (t *ptrTable[T]) all() iter.Seq[*T] {
	return func(yield func(*T) bool) {
		for _, v := range t.slots {
			if v != nil && !yield(v) {
				return
			}
		}
	}
}
