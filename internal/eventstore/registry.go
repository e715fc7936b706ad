package eventstore

import (
	"sync"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// streamRegistry maps stream keys to their one shared *stream (the head
// and every part refer to it). It is RAM per active stream (T8), so it is
// a ptrTable probed by the key's hash: 8 bytes per slot, 11-21 per stream,
// where a map keyed by the key string took about 35 and one keyed by its
// hash 22-35. The zero value is empty and ready; safe for concurrent use.
type streamRegistry struct {
	mu    sync.RWMutex
	table ptrTable[stream]
	// keys holds registered streams' keys back to back, which saves each
	// key its size-class rounding (a 49-byte key alone takes 64). A chunk
	// is freed once none of its keys is referenced: streams registered
	// together mostly expire together.
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
	return r.table.find(h, func(st *stream) bool { return st.key == string(key) })
}

func streamHash(st *stream) uint64 { return xxhash.Sum64String(st.key) }

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
	r.table.add(h, st, streamHash)
	return st, nil
}

// sweep keeps only the streams live accepts and returns how many it
// dropped. The caller must make sure no stream it drops is held by anyone
// who could still add it to the head or a part (Store.sweepStreams).
func (r *streamRegistry) sweep(live func(*stream) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t ptrTable[stream]
	dropped := 0
	for st := range r.table.all() {
		if live(st) {
			t.add(streamHash(st), st, streamHash)
		} else {
			dropped++
		}
	}
	if dropped > 0 {
		r.table = t
	}
	return dropped
}

// len returns the number of registered streams.
func (r *streamRegistry) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.table.len()
}
