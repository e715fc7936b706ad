// Command sightline is one binary for the observability of microservices:
// `sightline server` runs ingest, storage, query, alerts and the UI;
// `sightline agent` collects logs on each node; `sightline tool` holds
// offline helpers. main only parses flags, builds the configuration and
// hands over to internal/app; signals stop or reload it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Set with -ldflags "-X main.version=… -X main.revision=…".
var (
	version   = "dev"
	revision  = "unknown"
	branch    = "unknown"
	buildDate = "unknown"
)

const usage = `sightline — logs, metrics, alerts, traces and the service map in one binary.

Usage:
  sightline server [flags]      run the all-in-one server (ingest, storage, query, UI)
  sightline demo [flags]        run a server, an agent and a small microservice shop with faults
  sightline agent [flags]       collect logs on this node and ship them to a server
  sightline tool <command>      offline helpers (check-config)
  sightline version             print the version

Run 'sightline <command> -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "server":
		err = runServer(ctx, rest, stderr)
	case "agent":
		err = runAgent(ctx, rest)
	case "demo":
		err = runDemo(ctx, rest)
	case "tool":
		err = runTool(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "sightline %s (revision %s, %s, %s)\n", version, revision, buildDate, runtime.Version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "sightline: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "sightline: %v\n", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage error")

// newLogger builds the process logger: logfmt-like text or JSON on stderr.
func newLogger(w io.Writer, level slog.Level, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "", "text", "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("unknown log format %q (use text or json)", format)
	}
}
