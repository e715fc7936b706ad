package eventstore

import (
	"sync"

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
