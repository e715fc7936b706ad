// Command remotewrite measures Prometheus remote_write ingest: it sends a
// deterministic workload (series × samples, one sample per series per
// request round, max-per-request batches, several concurrent shards, as
// Prometheus' queue manager does) to any receiver and reports samples/s,
// the receiver's CPU seconds and its peak RSS (from /proc, given -pid).
//
//	remotewrite -url http://127.0.0.1:9800/api/v1/write -pid $(pidof sightline)
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9800/api/v1/write", "remote write endpoint")
	series := flag.Int("series", 50000, "number of series")
	rounds := flag.Int("samples", 60, "samples per series")
	perReq := flag.Int("batch", 2000, "samples per request")
	shards := flag.Int("shards", 4, "concurrent senders")
	pid := flag.Int("pid", 0, "receiver's process id, for CPU and peak RSS")
	flag.Parse()

	// Pre-build every request so the sender's own cost stays out of the
	// measurement.
	start := time.Now().Add(-time.Duration(*rounds) * 15 * time.Second).UnixMilli()
	var reqs [][]byte
	var cur prompb.WriteRequest
	flush := func() {
		if len(cur.Timeseries) == 0 {
			return
		}
		b, err := cur.Marshal()
		if err != nil {
			panic(err)
		}
		reqs = append(reqs, snappy.Encode(nil, b))
		cur.Timeseries = nil
	}
	for r := range *rounds {
		ts := start + int64(r)*15000
		for s := range *series {
			cur.Timeseries = append(cur.Timeseries, prompb.TimeSeries{
				Labels: []prompb.Label{
					{Name: "__name__", Value: fmt.Sprintf("bench_metric_%d", s%100)},
					{Name: "instance", Value: fmt.Sprintf("host-%d", s/100)},
					{Name: "job", Value: "bench"},
					{Name: "series", Value: strconv.Itoa(s)},
				},
				Samples: []prompb.Sample{{Value: float64(r*7 + s%13), Timestamp: ts}},
			})
			if len(cur.Timeseries) == *perReq {
				flush()
			}
		}
		flush()
	}
	total := *series * *rounds
	perRound := len(reqs) / *rounds

	cpu0 := cpuSeconds(*pid)
	t0 := time.Now()
	var failed atomic.Int64
	client := &http.Client{Timeout: time.Minute}
	// Rounds go in order (samples of a series must arrive in time order);
	// within a round the shards share the requests.
	for r := range *rounds {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range *shards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= perRound {
						return
					}
					body := reqs[r*perRound+i]
					for attempt := 0; ; attempt++ {
						hr, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
						hr.Header.Set("Content-Type", "application/x-protobuf")
						hr.Header.Set("Content-Encoding", "snappy")
						hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
						resp, err := client.Do(hr)
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode/100 == 2 {
								break
							}
							if resp.StatusCode != 429 && resp.StatusCode < 500 {
								failed.Add(1)
								break
							}
						}
						if attempt > 20 {
							failed.Add(1)
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
	}
	el := time.Since(t0)
	cpu := cpuSeconds(*pid) - cpu0
	fmt.Printf("samples=%d requests=%d failed=%d elapsed=%.2fs rate=%.0f samples/s", total, len(reqs), failed.Load(), el.Seconds(), float64(total)/el.Seconds())
	if *pid > 0 {
		fmt.Printf(" receiver_cpu=%.2fs samples_per_cpu_s=%.0f peak_rss=%dMB", cpu, float64(total)/cpu, peakRSS(*pid)>>20)
	}
	fmt.Println()
}

// cpuSeconds reads utime+stime of pid from /proc (0 when pid is 0).
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}

// peakRSS reads VmHWM (bytes) of pid.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
