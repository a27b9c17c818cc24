package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/ttrpc"
)

type benchResult struct {
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Size        int     `json:"size"`
	Calls       int64   `json:"calls"`
	Errors      int64   `json:"errors"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50Us       float64 `json:"p50_us"`
	P90Us       float64 `json:"p90_us"`
	P99Us       float64 `json:"p99_us"`
	MaxUs       float64 `json:"max_us"`
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	mode := fs.String("mode", "serial", "serial (one call at a time), parallel (-c goroutines on each of -conns connections) or idle (warm-up calls, then nothing for -windows times -d)")
	n := fs.Int64("n", 10000, "number of measured calls (ignored when -d is set)")
	d := fs.Duration("d", 0, "measure for this long instead of -n calls")
	c := fs.Int("c", 64, "concurrent callers per connection in parallel mode")
	conns := fs.Int("conns", 1, "connections in parallel mode")
	size := fs.Int("size", 64, "request payload size in bytes")
	warmup := fs.Int64("warmup", 200, "unmeasured calls before measuring")
	windows := fs.Int("windows", 1, "idle mode: windows of -d, a mark printed between them")
	address := parseArgs(fs, args, 1)[0]

	workers := 1
	switch *mode {
	case "serial", "idle":
	case "parallel":
		if *c < 1 {
			return fmt.Errorf("-c must be >= 1")
		}
		workers = *c
	default:
		return fmt.Errorf("unknown -mode %q (serial|parallel)", *mode)
	}
	if *size < 0 || *n < 0 || *warmup < 0 || *conns < 1 {
		return fmt.Errorf("-size, -n and -warmup must be >= 0, -conns >= 1")
	}

	clients := make([]*ttrpc.Client, *conns)
	for i := range clients {
		conn, err := dial(address)
		if err != nil {
			return err
		}
		clients[i] = ttrpc.NewClient(conn)
		defer clients[i].Close()
	}

	req := &EchoRequest{Payload: bytes.Repeat([]byte{'p'}, *size)}
	var (
		errMu    sync.Mutex
		firstErr error
	)
	noteErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}

	call := func(client *ttrpc.Client) error {
		var resp EchoResponse
		if err := client.Call(context.Background(), interopService, echoMethod, req, &resp); err != nil {
			return err
		}
		if len(resp.Payload) != *size {
			return fmt.Errorf("echo returned %d bytes, want %d", len(resp.Payload), *size)
		}
		return nil
	}

	// run performs calls on `workers` goroutines per connection until `count`
	// calls were claimed (or until `until` when non-zero), returning
	// per-worker latencies.
	run := func(count int64, until time.Time, record bool) ([][]time.Duration, int64, int64) {
		var (
			claimed, errs int64
			wg            sync.WaitGroup
			lat           = make([][]time.Duration, workers*len(clients))
		)
		for w := 0; w < workers*len(clients); w++ {
			wg.Add(1)
			go func(w int) {
				client := clients[w/workers]
				defer wg.Done()
				for {
					if until.IsZero() {
						if atomic.AddInt64(&claimed, 1) > count {
							return
						}
					} else if !time.Now().Before(until) {
						return
					} else {
						atomic.AddInt64(&claimed, 1)
					}
					t0 := time.Now()
					err := call(client)
					dt := time.Since(t0)
					if err != nil {
						atomic.AddInt64(&errs, 1)
						noteErr(err)
						continue
					}
					if record {
						lat[w] = append(lat[w], dt)
					}
				}
			}(w)
		}
		wg.Wait()
		done := claimed
		if until.IsZero() && done > count {
			done = count
		}
		return lat, done, errs
	}

	if *warmup > 0 {
		run(*warmup, time.Time{}, false)
		firstErr = nil
	}

	// The harness samples both processes' CPU time between this line and the result.
	fmt.Fprintln(os.Stdout, "measuring")
	start := time.Now()
	var until time.Time
	if *d > 0 {
		until = start.Add(*d)
	}
	var (
		lat         [][]time.Duration
		calls, errs int64
	)
	if *mode == "idle" {
		// -windows windows of -d, as the Node peer does; the harness samples CPU
		// time at each mark.
		for w := 0; w < *windows; w++ {
			if w > 0 {
				fmt.Fprintln(os.Stdout, "mark")
			}
			time.Sleep(*d)
		}
	} else {
		lat, calls, errs = run(*n, until, true)
	}
	elapsed := time.Since(start).Seconds()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })

	res := benchResult{
		Mode:        *mode,
		Concurrency: workers * len(clients),
		Size:        *size,
		Calls:       calls,
		Errors:      errs,
		Bytes:       calls * int64(*size) * 2,
		Seconds:     round(elapsed, 4),
		P50Us:       percentileUs(all, 0.50),
		P90Us:       percentileUs(all, 0.90),
		P99Us:       percentileUs(all, 0.99),
		MaxUs:       percentileUs(all, 1),
	}
	if elapsed > 0 {
		res.OpsPerSec = round(float64(calls)/elapsed, 1)
	}
	if firstErr != nil {
		code, msg := errorCode(firstErr)
		fmt.Fprintf(os.Stderr, "go-peer bench: %d error(s), first: code %d: %s\n", errs, code, msg)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, string(out))
	// The harness samples CPU time on the result line: closing waits until it has.
	time.Sleep(100 * time.Millisecond)
	return err
}

// percentileUs returns the nearest-rank percentile of sorted, in microseconds.
func percentileUs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return round(float64(sorted[i])/float64(time.Microsecond), 1)
}

func round(v float64, digits int) float64 {
	m := math.Pow(10, float64(digits))
	return math.Round(v*m) / m
}
