// Package dashboards stores users' dashboards and serves them over HTTP
// (/api/v1/dashboards): create, read, update with optimistic version
// checks, delete, export, and import of sightline or simple Grafana
// dashboard JSON.
//
// Each dashboard is one JSON file, <dir>/<uid>.json, holding the Dashboard
// as the API returns it (see Dashboard's JSON fields). Files are written to
// a temporary file, synced, renamed over the old one and the directory
// synced, so a crash leaves either the old or the new dashboard, never a
// torn one. The whole set is read into memory when the store opens; files
// that do not decode are logged and skipped, never deleted.
//
// A *Store is safe for concurrent use: reads share a lock, writes are
// serialised by it, so two updates of one version cannot both win.
package dashboards

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxDashboards bounds how many dashboards one store holds.
const MaxDashboards = 1000

// Errors callers branch on; the HTTP API maps them to status codes in
// one place (statusOf).
var (
	ErrNotFound = errors.New("dashboard not found")
	ErrExists   = errors.New("a dashboard with this uid already exists")
	ErrConflict = errors.New("the dashboard was changed by someone else")
	ErrFull     = fmt.Errorf("too many dashboards (at most %d)", MaxDashboards)
)

// Store holds the dashboards of one directory.
type Store struct {
	dir    string
	logger *slog.Logger
	now    func() time.Time

	mu    sync.RWMutex
	byUID map[string]*Dashboard // guarded by mu; values are never mutated, only replaced
}

// New opens (creating if needed) the dashboard directory dir and loads the
// dashboards in it.
func New(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create dashboard dir: %w", err)
	}
	s := &Store{dir: dir, logger: logger, now: time.Now, byUID: map[string]*Dashboard{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read dashboard dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		if strings.HasPrefix(name, ".tmp-") {
			// A write cut short by a crash; the old file is intact.
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		d, err := s.load(filepath.Join(dir, name))
		if err != nil {
			logger.Warn("skipping unreadable dashboard file", "file", name, "err", err)
			continue
		}
		if d.UID+".json" != name {
			logger.Warn("skipping dashboard file whose uid does not match its name", "file", name, "uid", d.UID)
			continue
		}
		s.byUID[d.UID] = d
	}
	return s, nil
}

func (s *Store) load(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode dashboard: %w", err)
	}
	if err := d.normalize(); err != nil {
		return nil, fmt.Errorf("check dashboard: %w", err)
	}
	if d.UID == "" {
		return nil, errors.New("check dashboard: no uid")
	}
	return &d, nil
}

// List returns summaries of all dashboards sorted by title, then uid.
func (s *Store) List() []Summary {
	s.mu.RLock()
	out := make([]Summary, 0, len(s.byUID))
	for _, d := range s.byUID {
		out = append(out, d.summary())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Summary) int {
		if c := strings.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title)); c != 0 {
			return c
		}
		return strings.Compare(a.UID, b.UID)
	})
	return out
}

// Get returns a copy of the dashboard uid.
func (s *Store) Get(uid string) (*Dashboard, error) {
	s.mu.RLock()
	d, ok := s.byUID[uid]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return clone(d), nil
}

// Create stores a new dashboard at version 1. An empty UID gets a random
// one; a UID in use is ErrExists.
func (s *Store) Create(d *Dashboard) (*Dashboard, error) {
	d = clone(d)
	if err := d.normalize(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byUID) >= MaxDashboards {
		return nil, ErrFull
	}
	if d.UID == "" {
		for {
			d.UID = newUID()
			if _, ok := s.byUID[d.UID]; !ok {
				break
			}
		}
	} else if _, ok := s.byUID[d.UID]; ok {
		return nil, ErrExists
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	d.Version, d.Created, d.Updated = 1, now, now
	if err := s.writeLocked(d); err != nil {
		return nil, err
	}
	s.byUID[d.UID] = d
	return clone(d), nil
}

// Update replaces the dashboard d.UID. d.Version must be the stored
// version (the one the client edited), else ErrConflict; the saved
// dashboard has the next version.
func (s *Store) Update(d *Dashboard) (*Dashboard, error) {
	d = clone(d)
	if d.UID == "" {
		return nil, invalid("uid is required")
	}
	if err := d.normalize(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byUID[d.UID]
	if !ok {
		return nil, ErrNotFound
	}
	if d.Version != old.Version {
		return nil, fmt.Errorf("%w: you edited version %d, the stored one is version %d; reload it and apply your change again", ErrConflict, d.Version, old.Version)
	}
	d.Version = old.Version + 1
	d.Created = old.Created
	d.Updated = s.now().UTC().Truncate(time.Millisecond)
	if err := s.writeLocked(d); err != nil {
		return nil, err
	}
	s.byUID[d.UID] = d
	return clone(d), nil
}

// Delete removes the dashboard uid. A version > 0 must match the stored
// one (ErrConflict otherwise); 0 deletes whatever is stored.
func (s *Store) Delete(uid string, version int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byUID[uid]
	if !ok {
		return ErrNotFound
	}
	if version > 0 && version != old.Version {
		return fmt.Errorf("%w: you deleted version %d, the stored one is version %d", ErrConflict, version, old.Version)
	}
	if err := os.Remove(filepath.Join(s.dir, uid+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete dashboard: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	delete(s.byUID, uid)
	return nil
}

// writeLocked writes d durably: temp file, fsync, rename, fsync dir.
func (s *Store) writeLocked(d *Dashboard) (err error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode dashboard: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*.json")
	if err != nil {
		return fmt.Errorf("write dashboard: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write dashboard: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync dashboard: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close dashboard: %w", err)
	}
	if err = os.Rename(tmp, filepath.Join(s.dir, d.UID+".json")); err != nil {
		return fmt.Errorf("rename dashboard: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dashboard dir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dashboard dir: %w", err)
	}
	return nil
}

// clone deep-copies d through its JSON form's slices.
func clone(d *Dashboard) *Dashboard {
	c := *d
	c.Tags = slices.Clone(d.Tags)
	c.Variables = slices.Clone(d.Variables)
	for i := range c.Variables {
		c.Variables[i].Options = slices.Clone(c.Variables[i].Options)
	}
	c.Panels = slices.Clone(d.Panels)
	for i := range c.Panels {
		c.Panels[i].Queries = slices.Clone(c.Panels[i].Queries)
	}
	return &c
}

const uidAlphabet = "abcdefghijkmnopqrstuvwxyz23456789"

func newUID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = uidAlphabet[int(b[i])%len(uidAlphabet)]
	}
	return string(b)
}
