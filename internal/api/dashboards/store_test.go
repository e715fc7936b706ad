package dashboards

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func sample(uid string) *Dashboard {
	return &Dashboard{UID: uid, Title: "Sample " + uid, Panels: []Panel{
		{Title: "Up", Type: TypeTimeseries, Queries: []Query{{Expr: "up", Legend: "{{job}}"}}},
	}}
}

func TestStoreCRUDAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Create(sample("a"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != 1 || a.Created.IsZero() || a.Panels[0].ID != 1 || a.Panels[0].GridPos.W != 12 {
		t.Fatalf("created %+v", a)
	}
	gen, err := s.Create(sample(""))
	if err != nil || !ValidUID(gen.UID) {
		t.Fatalf("generated uid %q, err %v", gen.UID, err)
	}
	if _, err := s.Create(sample("a")); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate uid: err %v", err)
	}
	a.Title = "Renamed"
	a2, err := s.Update(a)
	if err != nil || a2.Version != 2 || a2.Title != "Renamed" || !a2.Created.Equal(a.Created) {
		t.Fatalf("update: %+v %v", a2, err)
	}
	a.Title = "Stale"
	if _, err := s.Update(a); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: err %v", err)
	}
	if err := s.Delete(gen.UID, 5); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: err %v", err)
	}
	if err := s.Delete(gen.UID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(gen.UID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	// Leftovers a crash may leave, and a file that does not decode.
	os.WriteFile(filepath.Join(dir, ".tmp-123.json"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"uid": "x", "title": "t", "panels": []}`), 0o644)

	s2, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := s2.List()
	if len(list) != 1 || list[0].UID != "a" || list[0].Title != "Renamed" || list[0].Version != 2 || list[0].Panels != 1 {
		t.Fatalf("after reopen: %+v", list)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123.json")); !os.IsNotExist(err) {
		t.Errorf("temp file left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "broken.json")); err != nil {
		t.Errorf("an unreadable dashboard must not be deleted: %v", err)
	}
}

func TestStoreReturnsCopies(t *testing.T) {
	s, _ := New(t.TempDir(), nil)
	in := sample("c")
	if _, err := s.Create(in); err != nil {
		t.Fatal(err)
	}
	in.Panels[0].Queries[0].Expr = "changed by caller"
	got, _ := s.Get("c")
	got.Panels[0].Title = "changed by reader"
	again, _ := s.Get("c")
	if again.Panels[0].Queries[0].Expr != "up" || again.Panels[0].Title != "Up" {
		t.Fatalf("store shares memory with callers: %+v", again.Panels[0])
	}
}

func TestStoreConcurrentUpdatesOneWins(t *testing.T) {
	s, _ := New(t.TempDir(), nil)
	d, err := s.Create(sample("race"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clone(d)
			c.Title = "writer"
			_, errs[i] = s.Update(c)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrConflict):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d updates of version 1 succeeded, want exactly 1", ok)
	}
	if got, _ := s.Get("race"); got.Version != 2 {
		t.Fatalf("version %d, want 2", got.Version)
	}
}

func TestValidation(t *testing.T) {
	long := make([]byte, MaxTitleLen+1)
	for i := range long {
		long[i] = 'x'
	}
	for _, tc := range []struct {
		name string
		mod  func(d *Dashboard)
	}{
		{"bad uid", func(d *Dashboard) { d.UID = "../etc" }},
		{"empty title", func(d *Dashboard) { d.Title = "  " }},
		{"long title", func(d *Dashboard) { d.Title = string(long) }},
		{"bad utf8", func(d *Dashboard) { d.Title = "\xff" }},
		{"panel type", func(d *Dashboard) { d.Panels[0].Type = "pie" }},
		{"unit", func(d *Dashboard) { d.Panels[0].Unit = "furlongs" }},
		{"no query", func(d *Dashboard) { d.Panels[0].Queries = nil }},
		{"empty expr", func(d *Dashboard) { d.Panels[0].Queries[0].Expr = " " }},
		{"grid overflow", func(d *Dashboard) { d.Panels[0].GridPos = GridPos{X: 20, W: 8, H: 4} }},
		{"variable name", func(d *Dashboard) { d.Variables = []Variable{{Name: "1x", Type: VarCustom}} }},
		{"variable type", func(d *Dashboard) { d.Variables = []Variable{{Name: "x", Type: "adhoc"}} }},
		{"variable query", func(d *Dashboard) { d.Variables = []Variable{{Name: "x", Type: VarQuery, Query: "up"}} }},
		{"duplicate variable", func(d *Dashboard) {
			d.Variables = []Variable{{Name: "x", Type: VarCustom}, {Name: "x", Type: VarCustom}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := New(t.TempDir(), nil)
			d := sample("v")
			tc.mod(d)
			if _, err := s.Create(d); !asValidation(err) {
				t.Fatalf("err = %v, want a validation error", err)
			}
			if len(s.List()) != 0 {
				t.Fatal("an invalid dashboard was stored")
			}
		})
	}
}

func TestParseLabelValues(t *testing.T) {
	for _, tc := range []struct{ in, sel, label string }{
		{"label_values(job)", "", "job"},
		{" label_values( up{env=\"prod\"} , instance ) ", `up{env="prod"}`, "instance"},
		{"label_values(rate(x[5m]), le)", "rate(x[5m])", "le"},
	} {
		sel, label, err := ParseLabelValues(tc.in)
		if err != nil || sel != tc.sel || label != tc.label {
			t.Errorf("%q: %q %q %v", tc.in, sel, label, err)
		}
	}
	if _, _, err := ParseLabelValues("query_result(up)"); err == nil {
		t.Error("query_result accepted")
	}
}
