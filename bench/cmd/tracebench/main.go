// Command tracebench measures sightline's traces pillar at scale and beside
// Jaeger, on generated spans that look like an instrumented microservice
// fleet (60 services, traces of 5–30 spans, ~500 B per span with resource
// and span attributes, 2.5 % errors).
//
// Subcommands:
//
//	fill   write spans straight into an event store (no network) through
//	       tracestore's OTLP→row conversion, optionally measuring trace by id
//	       and search at checkpoints on the way; records what it wrote in
//	       <data-dir>/tracebench.json
//	lookup open a filled data dir as the server does and measure cold and
//	       warm trace by id and search latency, verifying every result
//	send   send the same generated traces over OTLP gRPC to a server
//	api    measure and verify trace by id and search through a Jaeger-style
//	       HTTP query API (/api/traces/<id>, /api/traces?service=…)
//
// Trace k is a pure function of (seed, k), so lookup and api recompute the
// expected ids and spans instead of storing them. Nothing here is shared
// between goroutines except the read-only generator and the store.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Meta records a generated data set so later steps can recompute it.
type Meta struct {
	Seed     uint64    `json:"seed"`
	Services int       `json:"services"`
	Base     time.Time `json:"base"`
	StepNS   int64     `json:"step_ns"`
	Traces   int       `json:"traces"` // traces 0..Traces-1 are stored
	Spans    int64     `json:"spans"`
}

func (m Meta) gen() (*Generator, error) {
	return NewGenerator(GenOptions{Seed: m.Seed, Services: m.Services, Base: m.Base, Step: time.Duration(m.StepNS)})
}

func metaPath(dataDir string) string { return filepath.Join(dataDir, "tracebench.json") }

func readMeta(path string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("read meta: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("parse meta %s: %w", path, err)
	}
	return m, nil
}

func writeMeta(path string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode meta: %w", err)
	}
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tracebench fill|lookup|send|api|gen-meta [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "fill":
		err = runFill(args)
	case "lookup":
		err = runLookup(args)
	case "send":
		err = runSend(args)
	case "api":
		err = runAPI(args)
	case "gen-meta":
		err = runGenMeta(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracebench:", err)
		os.Exit(1)
	}
}

// runGenMeta writes a meta file for a data set to be sent over the network:
// traces ending a little before now.
func runGenMeta(args []string) error {
	fs := flag.NewFlagSet("gen-meta", flag.ContinueOnError)
	out := fs.String("out", "", "meta file to write")
	seed := fs.Uint64("seed", 1, "generator seed")
	services := fs.Int("services", 60, "services")
	traces := fs.Int("traces", 10000, "traces")
	window := fs.Duration("window", 10*time.Minute, "time the traces' starts spread over, ending 1 minute ago")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *traces <= 0 {
		return fmt.Errorf("gen-meta: -out and -traces > 0 are required")
	}
	m := Meta{Seed: *seed, Services: *services, Traces: *traces,
		Base: time.Now().Add(-time.Minute - *window).Truncate(time.Second), StepNS: int64(*window) / int64(*traces)}
	g, err := m.gen()
	if err != nil {
		return err
	}
	for k := 0; k < m.Traces; k++ {
		m.Spans += int64(len(g.Info(k).SpanIDs))
	}
	fmt.Printf("meta: %d traces, %d spans\n", m.Traces, m.Spans)
	return writeMeta(*out, m)
}
