// Command logpeerbench measures one running log server — sightline,
// VictoriaLogs or Loki — on a file written by `loggen -format json` (one JSON
// object per line) and checks every answer against loggen's -stats ground
// truth. The side-by-side scripts bench/scripts/logs-vs-victorialogs.sh and
// bench/scripts/logs-vs-loki.sh start each server with a fresh data
// directory, run this program against it and then print a table with
// `logpeerbench table`.
//
// Per server it measures:
//
//   - ingest: the file is sent over HTTP in the form the server accepts
//     (sightline and VictoriaLogs: JSON lines with ts/msg/service mapped to
//     time/message/stream; Loki: JSON push with the raw line, stream label
//     service and structured metadata level and trace_id); server CPU
//     seconds (user+sys from /proc/PID/stat) until the last request is
//     acknowledged, and again after a flush and until the server is idle;
//   - disk: bytes allocated under the data directory after that flush;
//   - queries: a rare needle token, counts per level in 1-minute buckets over
//     the whole range, and one trace id's records; the first run and the
//     median of the warm runs (wall time) plus server CPU per run. A run
//     whose answer differs from the ground truth is reported as wrong.
//
// Usage:
//
//	logpeerbench run -target sightline -url http://127.0.0.1:19811 -pid PID \
//	    -in logs.jsonl -stats stats.json -data-dir DIR -out sightline.json
//	logpeerbench table sightline.json victorialogs.json
//
// Nothing here is safe for concurrent use beyond what main sets up.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: logpeerbench run|table [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "table":
		err = tableCmd(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q (want run or table)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "logpeerbench:", err)
		os.Exit(1)
	}
}
