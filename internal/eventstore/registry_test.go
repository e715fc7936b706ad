package eventstore

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// TestStreamRegistry resolves keys to one *stream per key, whose key and
// labels are the key's, through the registry's growth.
func TestStreamRegistry(t *testing.T) {
	var r streamRegistry
	keyOf := func(svc string) []byte {
		return appendStreamKey(nil, "t1", model.SignalLog, labels.FromStrings("service", svc))
	}
	streams := map[*stream]bool{}
	for round := range 2 {
		for i := range 3000 {
			k := keyOf(fmt.Sprint(i))
			st, err := r.resolve(k, parseStreamKey)
			if err != nil || st.key != string(k) || st.labels.Get("service") != fmt.Sprint(i) {
				t.Fatalf("key %d: %v %v", i, st, err)
			}
			if round == 0 {
				streams[st] = true
			} else if !streams[st] {
				t.Fatalf("key %d resolved to a new stream the second time", i)
			}
		}
	}
	if len(streams) != 3000 || r.table.len() != 3000 {
		t.Fatalf("%d streams, %d registry entries, want 3000", len(streams), r.table.len())
	}
	if _, err := r.resolve([]byte("no signal"), parseStreamKey); err == nil {
		t.Fatal("bad key accepted")
	}
}
