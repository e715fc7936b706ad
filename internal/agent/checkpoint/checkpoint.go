// Package checkpoint stores the agent's positions file: for every tailed
// file, its identity (device, inode, head fingerprint) and the offset just
// past the last line the server has acknowledged, plus the sequence number of
// the last acknowledged batch. The file is replaced atomically (temporary
// file, fsync, rename, fsync of the directory), so after a crash it holds
// either the previous or the new state, never a torn mix.
//
// State is a plain value and is not safe for concurrent use; Store methods
// are safe for concurrent use.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// FileName is the name of the positions file inside the data directory.
const FileName = "positions.json"

// formatVersion is bumped when the on-disk layout changes incompatibly.
const formatVersion = 1

// Fingerprint identifies a file by its first Len bytes (Len ≤ the agent's
// fingerprint size). A fingerprint with Len 0 matches nothing.
type Fingerprint struct {
	Len  int    `json:"len"`
	Hash uint64 `json:"hash"`
}

// Position is where reading of one file resumes.
type Position struct {
	Path string      `json:"path"`
	Dev  uint64      `json:"dev"`
	Ino  uint64      `json:"ino"`
	FP   Fingerprint `json:"fp"`
	// Offset is the byte offset just past the last acknowledged line.
	Offset int64 `json:"offset"`
	// Closed marks a file the tailer has finished with (deleted, rotated
	// away and drained, or truncated). The entry stays for ClosedRetention
	// as a tombstone: a copy of the file (copytruncate) that a restarted
	// agent finds must resume from Offset, not from the start.
	Closed bool `json:"closed,omitempty"`
	// Updated is when the entry last changed (UTC, informative and used for
	// pruning stale entries).
	Updated time.Time `json:"updated"`
}

// Key is the in-memory identity of a position entry.
type Key struct{ Dev, Ino uint64 }

// Key returns the entry's key.
func (p Position) Key() Key { return Key{p.Dev, p.Ino} }

// State is the content of the positions file.
type State struct {
	// AckedSeq is the sequence number of the last batch acknowledged by
	// the server (0 when none).
	AckedSeq uint64
	Files    map[Key]Position
}

// NewState returns an empty state.
func NewState() *State { return &State{Files: map[Key]Position{}} }

// ClosedRetention is how long an entry marked Closed is kept after its last
// update. A copy of a truncated file normally appears before the truncation
// is even noticed; the tombstone only has to outlive a crash of the agent
// between the two.
const ClosedRetention = time.Hour

// Apply records positions carried by batch seq. Positions are applied in
// order, so a later entry for the same key wins. Entries marked Closed stay
// as tombstones until a later position for the same key replaces them or
// they are ClosedRetention older than the newest position applied.
//
// A Closed entry must not simply be deleted: when a file is truncated
// (copytruncate) its reader closes and the copy's starting position may be
// acknowledged in a later batch; an agent restarted in between would find
// neither and read the copy from its start again.
func (s *State) Apply(seq uint64, ps []Position) {
	if seq > s.AckedSeq {
		s.AckedSeq = seq
	}
	var newest time.Time
	for _, p := range ps {
		s.Files[p.Key()] = p
		if p.Updated.After(newest) {
			newest = p.Updated
		}
	}
	if newest.IsZero() {
		return
	}
	cutoff := newest.Add(-ClosedRetention)
	for k, p := range s.Files {
		if p.Closed && p.Updated.Before(cutoff) {
			delete(s.Files, k)
		}
	}
}

// Prune drops entries not updated since before cutoff.
func (s *State) Prune(cutoff time.Time) {
	for k, p := range s.Files {
		if p.Updated.Before(cutoff) {
			delete(s.Files, k)
		}
	}
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{AckedSeq: s.AckedSeq, Files: make(map[Key]Position, len(s.Files))}
	for k, v := range s.Files {
		c.Files[k] = v
	}
	return c
}

// List returns the entries sorted by path then inode (stable output).
func (s *State) List() []Position {
	out := make([]Position, 0, len(s.Files))
	for _, p := range s.Files {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Ino < out[j].Ino
	})
	return out
}

type fileFormat struct {
	Version  int        `json:"version"`
	AckedSeq uint64     `json:"acked_seq"`
	Files    []Position `json:"files"`
}

// Marshal encodes the state as the positions file content.
func (s *State) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(fileFormat{Version: formatVersion, AckedSeq: s.AckedSeq, Files: s.List()}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode positions: %w", err)
	}
	return append(b, '\n'), nil
}

// Unmarshal decodes positions file content.
func Unmarshal(b []byte) (*State, error) {
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode positions: %w", err)
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("decode positions: unsupported version %d (want %d)", f.Version, formatVersion)
	}
	s := NewState()
	s.AckedSeq = f.AckedSeq
	for _, p := range f.Files {
		if p.Offset < 0 || p.FP.Len < 0 {
			return nil, fmt.Errorf("decode positions: negative offset or fingerprint length for %q", p.Path)
		}
		s.Files[p.Key()] = p
	}
	return s, nil
}

// Store reads and writes the positions file in a directory.
type Store struct {
	dir string
	mu  sync.Mutex // serialises writes
}

// NewStore returns a store for dir, which must exist.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Path is the positions file path.
func (s *Store) Path() string { return filepath.Join(s.dir, FileName) }

// Load reads the positions file; a missing file yields an empty state.
func (s *Store) Load() (*State, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, os.ErrNotExist) {
		return NewState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read positions: %w", err)
	}
	return Unmarshal(b)
}

// Save replaces the positions file atomically and durably.
func (s *Store) Save(st *State) error {
	b, err := st.Marshal()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return WriteFileAtomic(s.Path(), b)
}

// WriteFileAtomic writes data to path via a temporary file in the same
// directory: write, fsync, rename over path, fsync the directory.
func WriteFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(tmp.Name()))
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename or create inside it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
