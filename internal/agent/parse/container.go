package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ContainerLine is one line written by a container runtime.
type ContainerLine struct {
	Time   time.Time
	Stream string // "stdout" or "stderr"
	// Partial reports that the runtime split a longer line here and the
	// message continues on the next line of the same stream.
	Partial bool
	Msg     []byte
}

var errCRI = errors.New("not a CRI log line")

// ParseCRI decodes a CRI (containerd, CRI-O) log line:
// "<RFC3339Nano time> <stream> <tags> <message>", where tags is "P"
// (partial) or "F" (full), possibly followed by ":"-separated extras.
func ParseCRI(line []byte) (ContainerLine, error) {
	var cl ContainerLine
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return cl, errCRI
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return cl, fmt.Errorf("parse CRI time: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return cl, errCRI
	}
	tags, msg, _ := bytes.Cut(rest, []byte{' '})
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(tag) {
	case "P":
		cl.Partial = true
	case "F":
	default:
		return cl, errCRI
	}
	cl.Time, cl.Stream, cl.Msg = t, string(stream), msg
	return cl, nil
}

type dockerJSON struct {
	Log    *string `json:"log"`
	Stream string  `json:"stream"`
	Time   string  `json:"time"`
}

var errDocker = errors.New("not a Docker JSON log line")

// ParseDocker decodes a Docker json-file log line
// {"log":"...\n","stream":"stdout","time":"..."}; a message without its
// trailing newline is a partial (Docker splits lines at 16 KiB).
func ParseDocker(line []byte) (ContainerLine, error) {
	var cl ContainerLine
	var d dockerJSON
	if err := json.Unmarshal(line, &d); err != nil {
		return cl, fmt.Errorf("parse Docker JSON line: %w", err)
	}
	if d.Log == nil {
		return cl, errDocker
	}
	if d.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, d.Time)
		if err != nil {
			return cl, fmt.Errorf("parse Docker time: %w", err)
		}
		cl.Time = t
	}
	msg := *d.Log
	if m, ok := strings.CutSuffix(msg, "\n"); ok {
		msg = m
	} else {
		cl.Partial = true
	}
	cl.Stream, cl.Msg = d.Stream, []byte(msg)
	return cl, nil
}

// ParseContainer decodes a Docker JSON line when it starts with '{', a CRI
// line otherwise.
func ParseContainer(line []byte) (ContainerLine, error) {
	if len(line) > 0 && line[0] == '{' {
		return ParseDocker(line)
	}
	return ParseCRI(line)
}

// PodMeta is Kubernetes metadata derived from a pod log path.
type PodMeta struct {
	Namespace, Pod, UID, Container string
	Restart                        string // the N of N.log
}

// PodFromPath extracts metadata from /var/log/pods/<ns>_<pod>_<uid>/<container>/<N>.log
// or /var/log/containers/<pod>_<ns>_<container>-<id>.log.
func PodFromPath(path string) (PodMeta, bool) {
	var m PodMeta
	if i := strings.Index(path, "/pods/"); i >= 0 {
		parts := strings.Split(path[i+len("/pods/"):], "/")
		if len(parts) != 3 {
			return m, false
		}
		ids := strings.Split(parts[0], "_")
		if len(ids) != 3 || ids[0] == "" || ids[1] == "" {
			return m, false
		}
		m.Namespace, m.Pod, m.UID, m.Container = ids[0], ids[1], ids[2], parts[1]
		m.Restart = strings.TrimSuffix(parts[2], ".log")
		return m, m.Container != ""
	}
	if i := strings.Index(path, "/containers/"); i >= 0 {
		base := strings.TrimSuffix(path[i+len("/containers/"):], ".log")
		ids := strings.Split(base, "_")
		if len(ids) != 3 || strings.Contains(base, "/") {
			return m, false
		}
		m.Pod, m.Namespace = ids[0], ids[1]
		c := ids[2]
		if j := strings.LastIndexByte(c, '-'); j > 0 {
			c = c[:j]
		}
		m.Container = c
		return m, m.Pod != "" && m.Namespace != "" && m.Container != ""
	}
	return m, false
}
