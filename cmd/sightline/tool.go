package main

import (
	"fmt"
	"io"

	"github.com/sightline/sightline/internal/config"
)

const toolUsage = `Usage:
  sightline tool check-config FILE...   validate configuration files
`

func runTool(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, toolUsage)
		return errUsage
	}
	switch args[0] {
	case "check-config":
		return checkConfig(args[1:], stdout)
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
