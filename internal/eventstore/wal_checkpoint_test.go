package eventstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// walRecordBytes returns the WAL's segment files and their bytes beyond the
// 8-byte segment headers, i.e. bytes of records.
func walRecordBytes(t *testing.T, dataDir string) (files int, recordBytes int64) {
	t.Helper()
	ents, err := os.ReadDir(WALDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".wal" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		files++
		recordBytes += fi.Size() - 8
	}
	return files, recordBytes
}

// After a flush whose checkpoint covers every written row, the WAL holds no
// record bytes; rows appended after it are replayed exactly once by a
// kill-style reopen (a copy of the directory taken while the store is open),
// and an idle store keeps no stale segment across restarts.
func TestFlushReleasesActiveWALSegment(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	s := openTest(t, dir, o)
	rows := genRows(2300, 0)
	for i := 0; i < 2000; i += 500 {
		if err := s.Append(context.Background(), rows[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	if _, rb := walRecordBytes(t, dir); rb == 0 {
		t.Fatal("appended rows are not in the WAL")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if files, rb := walRecordBytes(t, dir); files != 1 || rb != 0 {
		t.Fatalf("after flush: %d WAL segments holding %d record bytes; want one empty segment", files, rb)
	}
	if st := s.Stats(); st.WALBytes != 8 || st.Rows != 2000 || st.HeadRows != 0 {
		t.Fatalf("after flush: %+v", st)
	}
	if err := s.Append(context.Background(), rows[2000:]); err != nil {
		t.Fatal(err)
	}
	_, unflushed := walRecordBytes(t, dir)
	if unflushed == 0 {
		t.Fatal("unflushed rows are not in the WAL")
	}

	img := filepath.Join(t.TempDir(), "img")
	copyTree(t, img, dir)
	s2 := openTest(t, img, o)
	if st := s2.Stats(); st.Rows != 2000 || st.HeadRows != 300 {
		t.Fatalf("kill-style reopen: %d rows in parts, %d replayed; want 2000 and 300", st.Rows, st.HeadRows)
	}
	seen := map[int64]int{}
	for _, v := range seqs(queryAll(t, s2, Query{Tenant: "t1"})) {
		seen[v]++
	}
	for k := range int64(2300) {
		if seen[k] != 1 {
			t.Fatalf("row %d found %d times after kill-style reopen", k, seen[k])
		}
	}
	if len(seen) != 2300 {
		t.Fatalf("%d distinct rows after reopen, want 2300", len(seen))
	}
	s2.Close()

	// Close flushes the rest; the WAL is left with one empty segment, and
	// an idle restart keeps it that way.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if files, rb := walRecordBytes(t, dir); files != 1 || rb != 0 {
			t.Fatalf("idle: %d WAL segments holding %d record bytes; want one empty segment", files, rb)
		}
		s3 := openTest(t, dir, o)
		if st := s3.Stats(); st.Rows != 2300 || st.HeadRows != 0 || st.WALBytes != 8 {
			t.Fatalf("idle reopen: %+v", st)
		}
		if err := s3.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
