package checkpoint

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestApplyAndRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := NewState()
	st.Apply(1, []Position{
		{Path: "/a.log", Dev: 1, Ino: 10, FP: Fingerprint{Len: 5, Hash: 99}, Offset: 100, Updated: now},
		{Path: "/b.log", Dev: 1, Ino: 11, Offset: 7, Updated: now},
	})
	st.Apply(2, []Position{
		{Path: "/a.log.1", Dev: 1, Ino: 10, FP: Fingerprint{Len: 5, Hash: 99}, Offset: 250, Updated: now},
		{Dev: 1, Ino: 11, Closed: true}, // a tombstone (zero Updated: long expired)
	})
	st.Apply(1, nil) // an older sequence must not move AckedSeq back
	if st.AckedSeq != 2 {
		t.Fatalf("AckedSeq = %d, want 2", st.AckedSeq)
	}
	if len(st.Files) != 1 || st.Files[Key{1, 10}].Offset != 250 || st.Files[Key{1, 10}].Path != "/a.log.1" {
		t.Fatalf("unexpected files %+v", st.Files)
	}

	dir := t.TempDir()
	s := NewStore(dir)
	empty, err := s.Load()
	if err != nil || len(empty.Files) != 0 || empty.AckedSeq != 0 {
		t.Fatalf("load missing = %+v, %v", empty, err)
	}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip: got %+v want %+v", got, st)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != FileName {
		t.Fatalf("directory holds %v", ents)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        "{",
		"wrong version":   `{"version":9,"files":[]}`,
		"negative offset": `{"version":1,"files":[{"path":"x","offset":-1}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Unmarshal([]byte(in)); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestPrune(t *testing.T) {
	old := time.Unix(100, 0)
	st := NewState()
	st.Apply(1, []Position{{Ino: 1, Updated: old}, {Ino: 2, Updated: old.Add(time.Hour)}})
	st.Prune(old.Add(time.Minute))
	if _, ok := st.Files[Key{0, 2}]; !ok || len(st.Files) != 1 {
		t.Fatalf("prune left %+v", st.Files)
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	for _, want := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(want)); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if string(b) != want {
			t.Fatalf("got %q want %q", b, want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"version":1,"acked_seq":3,"files":[{"path":"/x","dev":1,"ino":2,"fp":{"len":3,"hash":4},"offset":5}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Unmarshal(b)
		if err != nil {
			return
		}
		out, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		st2, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if st2.AckedSeq != st.AckedSeq || len(st2.Files) != len(st.Files) {
			t.Fatal("round trip changed state")
		}
	})
}

// TestClosedTombstones: a Closed position stays (so a restarted agent can
// resume a copytruncate copy from it) until a later position for the same
// file replaces it or it is ClosedRetention older than the newest update.
func TestClosedTombstones(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fp := Fingerprint{Len: 64, Hash: 7}
	tests := []struct {
		name  string
		apply [][]Position
		want  map[Key]Position
	}{
		{
			name:  "closed entry kept as tombstone",
			apply: [][]Position{{{Ino: 1, FP: fp, Offset: 226, Closed: true, Updated: t0}}},
			want:  map[Key]Position{{0, 1}: {Ino: 1, FP: fp, Offset: 226, Closed: true, Updated: t0}},
		},
		{
			name: "later position for the same file replaces it (truncated file read again)",
			apply: [][]Position{
				{{Ino: 1, FP: fp, Offset: 226, Closed: true, Updated: t0}},
				{{Ino: 1, FP: Fingerprint{Len: 20, Hash: 9}, Offset: 40, Updated: t0.Add(time.Second)}},
			},
			want: map[Key]Position{{0, 1}: {Ino: 1, FP: Fingerprint{Len: 20, Hash: 9}, Offset: 40, Updated: t0.Add(time.Second)}},
		},
		{
			name: "tombstones expire after ClosedRetention; open entries do not",
			apply: [][]Position{
				{{Ino: 1, Offset: 5, Closed: true, Updated: t0}, {Ino: 2, Offset: 6, Updated: t0}},
				{{Ino: 3, Offset: 7, Updated: t0.Add(ClosedRetention + time.Second)}},
			},
			want: map[Key]Position{
				{0, 2}: {Ino: 2, Offset: 6, Updated: t0},
				{0, 3}: {Ino: 3, Offset: 7, Updated: t0.Add(ClosedRetention + time.Second)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState()
			for i, ps := range tc.apply {
				st.Apply(uint64(i+1), ps)
			}
			if !reflect.DeepEqual(st.Files, tc.want) {
				t.Fatalf("files = %+v\nwant %+v", st.Files, tc.want)
			}
			// Tombstones survive the positions file.
			b, err := st.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Unmarshal(b)
			if err != nil || !reflect.DeepEqual(back.Files, st.Files) {
				t.Fatalf("round trip: %+v, %v", back, err)
			}
		})
	}
}
