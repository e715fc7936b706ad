//go:build unix

package eventstore

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a whole file read-only; an empty file maps to nil.
func mapFile(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	if st.Size() == 0 {
		return nil, nil
	}
	if st.Size() != int64(int(st.Size())) {
		return nil, fmt.Errorf("map %s: too large", f.Name())
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	return b, nil
}

func unmapFile(b []byte) {
	if b != nil {
		syscall.Munmap(b)
	}
}
