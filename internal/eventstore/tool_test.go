package eventstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/eventstore/wal"
)

func TestDumpAndRepairWAL(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, testOpts())
	for i := range 3 {
		if err := s.Append(context.Background(), genRows(10, i*10)); err != nil {
			t.Fatal(err)
		}
	}
	// Crash: leave the WAL unflushed.
	close(s.stop)
	s.wg.Wait()
	s.wal.Close()
	var out bytes.Buffer
	rep, err := DumpWAL(dir, &out, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), `{"seq":`); n != 30 || rep.Segments[0].Records != 3 {
		t.Fatalf("dump has %d rows, %d records:\n%s", n, rep.Segments[0].Records, out.String())
	}
	// Corrupt the first record: the store refuses to open, the repair fixes it.
	segs, _ := filepath.Glob(filepath.Join(WALDir(dir), "*.wal"))
	b, _ := os.ReadFile(segs[0])
	b[30] ^= 0xff
	os.WriteFile(segs[0], b, 0o644)
	_, err = Open(dir, testOpts())
	var ce *wal.CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("open with corrupt wal: %v", err)
	}
	if !strings.Contains(err.Error(), "wal-repair") {
		t.Errorf("error does not say how to repair: %v", err)
	}
	out.Reset()
	if _, err := DumpWAL(dir, &out, false); err != nil || !strings.Contains(out.String(), "CORRUPT") {
		t.Fatalf("dump of corrupt wal: %v\n%s", err, out.String())
	}
	if _, err := RepairWAL(dir); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, dir, testOpts())
	s2.Close()
}
