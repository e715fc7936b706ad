package eventstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// fileSystem is what part writing, merging and publishing need from the disk.
// Tests swap in a fault-injecting implementation.
type fileSystem interface {
	MkdirAll(path string) error
	Create(path string) (writableFile, error)
	Rename(oldPath, newPath string) error
	RemoveAll(path string) error
	SyncDir(path string) error
}

type writableFile interface {
	io.Writer
	Sync() error
	Close() error
}

type osFS struct{}

func (osFS) MkdirAll(p string) error { return os.MkdirAll(p, 0o755) }
func (osFS) Create(p string) (writableFile, error) {
	return os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
}
func (osFS) Rename(a, b string) error { return os.Rename(a, b) }
func (osFS) RemoveAll(p string) error { return os.RemoveAll(p) }
func (osFS) SyncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errDirSync marks a failure to fsync a directory after a successful rename:
// the new file is visible, its durability unknown.
var errDirSync = errors.New("sync directory after rename")

// writeFileAtomic writes data to path via a temporary file: write, fsync,
// rename, fsync the directory.
func writeFileAtomic(fsys fileSystem, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(tmp), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(tmp), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", filepath.Base(tmp), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", filepath.Base(tmp), err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(tmp), err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("%w of %s: %w", errDirSync, filepath.Base(path), err)
	}
	return nil
}
