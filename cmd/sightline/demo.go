package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/demo"
)

// runDemo runs `sightline demo [flags]` (server, agents and the shop in one
// process) and `sightline demo fault <name> --on|--off --addr URL`.
func runDemo(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "fault" {
		return runDemoFault(ctx, args[1:])
	}
	o := demo.DefaultOptions()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&o.DataDir, "data-dir", "", "where the demo keeps data; empty = a temporary directory removed on exit")
	fs.StringVar(&o.HTTPAddr, "http-addr", o.HTTPAddr, "address of the HTTP APIs and UI")
	fs.StringVar(&o.OTLPGRPCAddr, "otlp-grpc-addr", o.OTLPGRPCAddr, "OTLP/gRPC address (the shop sends its telemetry here)")
	fs.StringVar(&o.OTLPHTTPAddr, "otlp-http-addr", o.OTLPHTTPAddr, "OTLP/HTTP address, empty to disable")
	fs.DurationVar(&o.Duration, "duration", 0, "stop by itself after this long; 0 = run until Ctrl-C")
	fs.Float64Var(&o.RPS, "rps", o.RPS, "requests per second the load generator sends")
	fs.DurationVar(&o.FaultEvery, "fault-every", o.FaultEvery, "switch the next fault on at this interval; 0 = only by command")
	fs.DurationVar(&o.FaultFor, "fault-for", o.FaultFor, "how long a timed fault stays on")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: sightline demo [flags]\n       sightline demo fault <"+joinFaults()+"> --on|--off --addr URL\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sightline demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	level, err := config.ParseLogLevel(*logLevel)
	if err != nil {
		return err
	}
	logger, err := newLogger(os.Stderr, level, *logFormat)
	if err != nil {
		return err
	}
	o.Logger, o.Out, o.Build = logger, os.Stdout, buildInfo()
	o.Flags = map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) { o.Flags[fl.Name] = fl.Value.String() })
	return demo.Run(ctx, o)
}

func runDemoFault(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(os.Stderr, "Usage: sightline demo fault <%s> [--on|--off] --addr http://gateway\n", joinFaults())
		return errUsage
	}
	name := args[0]
	fs := flag.NewFlagSet("demo fault", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	on := fs.Bool("on", false, "switch the fault on (the default)")
	off := fs.Bool("off", false, "switch the fault off")
	addr := fs.String("addr", "", "the demo shop's gateway URL, as printed by `sightline demo`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *on && *off {
		return fmt.Errorf("demo fault: give --on or --off, not both: %w", errUsage)
	}
	if *addr == "" {
		return fmt.Errorf("demo fault: --addr is required (the gateway URL `sightline demo` printed): %w", errUsage)
	}
	if !slices.Contains(demo.FaultNames, name) {
		return fmt.Errorf("demo fault: unknown fault %q (known: %s)", name, joinFaults())
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := demo.SetRemote(ctx, http.DefaultClient, *addr, name, !*off)
	if err != nil {
		return err
	}
	for _, n := range demo.FaultNames {
		state := "off"
		if st[n] {
			state = "on"
		}
		fmt.Printf("%-15s %s\n", n, state)
	}
	return nil
}

func joinFaults() string {
	s := ""
	for i, n := range demo.FaultNames {
		if i > 0 {
			s += "|"
		}
		s += n
	}
	return s
}
