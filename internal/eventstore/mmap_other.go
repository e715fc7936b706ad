//go:build !unix

package eventstore

import (
	"fmt"
	"io"
	"os"
)

// mapFile reads a whole file into memory where mmap is not available.
func mapFile(f *os.File) ([]byte, error) {
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return b, nil
}

func unmapFile([]byte) {}
