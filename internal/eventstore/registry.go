package eventstore

import (
	"sync"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// streamRegistry maps stream keys to their one shared *stream (the head
// and every part refer to it). It is RAM per active stream (T8), so it is
// keyed by a 64-bit hash of the key: a map slot of 16 bytes rather than 24
// for a string key, about 22 bytes per stream instead of 35. The rare key
// whose hash another key already holds is kept in a second map. The zero
// value is empty and ready; safe for concurrent use.
type streamRegistry struct {
	mu     sync.RWMutex
	byHash map[uint64]*stream
	clash  map[string]*stream
	// keys holds registered streams' keys back to back. Streams are never
	// removed, so carving keys from shared chunks costs nothing later and
	// saves each key its size-class rounding (a 49-byte key alone takes 64).
	keys []byte
}

// keyChunk is the size of the chunks keys are carved from; longer keys keep
// their own allocation.
const keyChunk = 16 << 10

// keep returns a copy of key in the registry's key chunks. Call with mu
// held for writing.
func (r *streamRegistry) keep(key string) string {
	if len(key) == 0 || len(key) > keyChunk/16 {
		return key
	}
	if cap(r.keys)-len(r.keys) < len(key) {
		r.keys = make([]byte, 0, keyChunk)
	}
	start := len(r.keys)
	r.keys = append(r.keys, key...)
	return unsafe.String(&r.keys[start], len(key))
}

func (r *streamRegistry) lookup(key []byte, h uint64) *stream {
	if st := r.byHash[h]; st != nil && st.key == string(key) {
		return st
	}
	return r.clash[string(key)]
}

// resolve returns the stream of key, registering it (made by parse) when
// it is new.
func (r *streamRegistry) resolve(key []byte, parse func([]byte) (*stream, error)) (*stream, error) {
	h := xxhash.Sum64(key)
	r.mu.RLock()
	st := r.lookup(key, h)
	r.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	st, err := parse(key)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.lookup(key, h); old != nil {
		return old, nil
	}
	st.key = r.keep(st.key)
	switch {
	case r.byHash == nil:
		r.byHash = map[uint64]*stream{h: st}
	case r.byHash[h] == nil:
		r.byHash[h] = st
	default:
		if r.clash == nil {
			r.clash = map[string]*stream{}
		}
		r.clash[st.key] = st
	}
	return st, nil
}
