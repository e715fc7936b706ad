package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Prefix is where the API is served.
const Prefix = "/api/v1/dashboards"

// Register adds the dashboard routes to mux (Go 1.22 patterns, more
// specific than a catch-all "/api/v1/"):
//
//	GET    /api/v1/dashboards               list (summaries)
//	POST   /api/v1/dashboards               create; 409 if the uid exists
//	POST   /api/v1/dashboards/import        import sightline or Grafana JSON
//	                                        (?overwrite=true replaces, ?copy=true takes a new uid)
//	GET    /api/v1/dashboards/{uid}         read
//	GET    /api/v1/dashboards/{uid}/export  download in the export format
//	PUT    /api/v1/dashboards/{uid}         update; the body's version must be the stored one, else 409
//	DELETE /api/v1/dashboards/{uid}         delete (?version=N checks the version)
//
// Answers use the Prometheus envelope: {"status":"success","data":…} or
// {"status":"error","errorType":…,"error":…}.
func (s *Store) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix, s.list)
	mux.HandleFunc("POST "+Prefix, s.create)
	mux.HandleFunc("POST "+Prefix+"/import", s.importDashboard)
	mux.HandleFunc("GET "+Prefix+"/{uid}", s.get)
	mux.HandleFunc("GET "+Prefix+"/{uid}/export", s.export)
	mux.HandleFunc("PUT "+Prefix+"/{uid}", s.update)
	mux.HandleFunc("DELETE "+Prefix+"/{uid}", s.remove)
}

// Handler returns the API as a handler of its own (for tests and for
// mounting on a mux of another type).
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

type envelope struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (s *Store) reply(w http.ResponseWriter, code int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(envelope{Status: "success", Data: data}); err != nil {
		s.logger.Debug("write dashboard response", "err", err)
	}
}

// statusOf maps an error to its HTTP status and Prometheus-style type;
// it is the only place that does.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "bad_data"
	case asValidation(err):
		return http.StatusBadRequest, "bad_data"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrExists), errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrFull):
		return http.StatusInsufficientStorage, "full"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

func (s *Store) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, typ := statusOf(err)
	msg := err.Error()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		msg = fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)
	}
	if code >= 500 {
		s.logger.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(envelope{Status: "error", ErrorType: typ, Error: msg})
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, invalid("read the request body: %v", err)
	}
	return b, nil
}

// decodeDashboard reads a dashboard body strictly: unknown fields are
// reported, so a typo does not silently lose a setting.
func decodeDashboard(w http.ResponseWriter, r *http.Request) (*Dashboard, error) {
	b, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, invalid("decode the dashboard JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("decode the dashboard JSON: more than one JSON value in the body")
	}
	return &d, nil
}

func (s *Store) list(w http.ResponseWriter, _ *http.Request) {
	s.reply(w, http.StatusOK, s.List())
}

func (s *Store) get(w http.ResponseWriter, r *http.Request) {
	d, err := s.Get(r.PathValue("uid"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reply(w, http.StatusOK, d)
}

func (s *Store) create(w http.ResponseWriter, r *http.Request) {
	d, err := decodeDashboard(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.Create(d)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/"+out.UID)
	s.reply(w, http.StatusCreated, out)
}

func (s *Store) update(w http.ResponseWriter, r *http.Request) {
	d, err := decodeDashboard(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	uid := r.PathValue("uid")
	if d.UID != "" && d.UID != uid {
		s.fail(w, r, invalid("the body's uid %q differs from the URL's %q", d.UID, uid))
		return
	}
	d.UID = uid
	out, err := s.Update(d)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reply(w, http.StatusOK, out)
}

func (s *Store) remove(w http.ResponseWriter, r *http.Request) {
	var version int64
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			s.fail(w, r, invalid("version %q is not a positive integer", v))
			return
		}
		version = n
	}
	if err := s.Delete(r.PathValue("uid"), version); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reply(w, http.StatusOK, map[string]string{"uid": r.PathValue("uid")})
}

func (s *Store) export(w http.ResponseWriter, r *http.Request) {
	d, err := s.Get(r.PathValue("uid"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := Export(d)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.json"`, d.UID))
	_, _ = w.Write(b)
}

// ImportResult is the answer to an import.
type ImportResult struct {
	Dashboard *Dashboard `json:"dashboard"`
	Format    string     `json:"format"`
	Warnings  []string   `json:"warnings"`
}

func (s *Store) importDashboard(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	im, err := Decode(b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	overwrite, copyNew := q.Get("overwrite") == "true", q.Get("copy") == "true"
	if copyNew {
		im.Dashboard.UID = ""
	}
	var out *Dashboard
	if overwrite && im.Dashboard.UID != "" {
		if old, gerr := s.Get(im.Dashboard.UID); gerr == nil {
			im.Dashboard.Version = old.Version
			out, err = s.Update(im.Dashboard)
		} else {
			out, err = s.Create(im.Dashboard)
		}
	} else {
		out, err = s.Create(im.Dashboard)
		if errors.Is(err, ErrExists) {
			err = fmt.Errorf("%w: uid %q; import with overwrite=true to replace it or copy=true to keep both", ErrExists, im.Dashboard.UID)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	warnings := im.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	s.reply(w, http.StatusCreated, ImportResult{Dashboard: out, Format: im.Format, Warnings: warnings})
}
