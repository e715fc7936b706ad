package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sightline/sightline/internal/app"
	"github.com/sightline/sightline/internal/eventstore"

	"github.com/sightline/sightline/internal/config"
)

const toolUsage = `Usage:
  sightline tool check-config FILE...            validate configuration files
  sightline tool wal-dump [--rows] [--data-dir DIR]  list the event store's WAL (and its rows)
  sightline tool wal-repair [--data-dir DIR]     truncate a corrupt event-store WAL at the first bad record
                                                 (run with the server stopped; rows after it are lost)
`

func runTool(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, toolUsage)
		return errUsage
	}
	switch args[0] {
	case "check-config":
		return checkConfig(args[1:], stdout)
	case "wal-dump", "wal-repair":
		return walTool(args[0], args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "sightline tool: unknown command %q\n%s", args[0], toolUsage)
		return errUsage
	}
}

func checkConfig(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("check-config: name at least one file: %w", errUsage)
	}
	failed := 0
	for _, f := range files {
		c, err := config.LoadFile(f, nil)
		if err != nil {
			fmt.Fprintf(stdout, "FAILED: %v\n", err)
			failed++
			continue
		}
		scfgs, err := c.Prometheus.GetScrapeConfigs()
		if err != nil {
			fmt.Fprintf(stdout, "FAILED: %s: %v\n", f, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS: %s is valid (%d scrape jobs, %d rule files)\n", f, len(scfgs), len(c.Prometheus.RuleFiles))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d config files are invalid", failed, len(files))
	}
	return nil
}

func walTool(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "data", "the server's data directory")
	rows := fs.Bool("rows", false, "print every record's rows as JSON lines (wal-dump)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := app.EventsDir(*dataDir)
	if cmd == "wal-dump" {
		_, err := eventstore.DumpWAL(dir, stdout, *rows)
		return err
	}
	rep, err := eventstore.RepairWAL(dir)
	if err != nil {
		return err
	}
	if len(rep.Repaired) == 0 {
		fmt.Fprintln(stdout, "the WAL is intact; nothing to repair")
	}
	for _, r := range rep.Repaired {
		fmt.Fprintln(stdout, "repaired:", r)
	}
	return nil
}
