package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// benchResult is the JSON line of `go-peer12 bench`, the same as go-peer's and node-peer's.
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

// runBench measures whole Streaming.Source calls (-count chunks of -size bytes each, consumed
// as fast as they come) one after another for -d, after -warmup of them. It prints `measuring`
// when the measured phase starts and the result as one JSON line (bench/ttrpc.ts reads both).
func runBench(address string, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	mode := fs.String("mode", "stream", "stream: whole Streaming.Source calls")
	d := fs.Duration("d", 2*time.Second, "measure for this long")
	count := fs.Int("count", 64, "chunks per stream")
	size := fs.Int("size", 1<<20, "bytes per chunk")
	warmup := fs.Int("warmup", 2, "unmeasured streams first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "stream" {
		return fmt.Errorf("unknown -mode %q (stream)", *mode)
	}
	conn, err := net.Dial("unix", address)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()

	stream := func() error {
		req := newMessage(sourceRequest)
		set(req, "count", protoreflect.ValueOfUint32(uint32(*count)))
		set(req, "size", protoreflect.ValueOfUint32(uint32(*size)))
		s, err := client.NewStream(context.Background(), &ttrpc.StreamDesc{StreamingServer: true}, streaming, "Source", req)
		if err != nil {
			return err
		}
		got := 0
		for {
			c := newMessage(chunk)
			if err := s.RecvMsg(c); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			got += len(get(c, "data").Bytes())
		}
		if got != *count**size {
			return fmt.Errorf("stream brought %d bytes, want %d", got, *count**size)
		}
		return nil
	}

	for i := 0; i < *warmup; i++ {
		if err := stream(); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stdout, "measuring")
	var lat []time.Duration
	var calls, errs int64
	start := time.Now()
	for time.Since(start) < *d {
		t0 := time.Now()
		if err := stream(); err != nil {
			errs++
			fmt.Fprintf(os.Stderr, "go-peer12 bench: %v\n", err)
			continue
		}
		lat = append(lat, time.Since(t0))
		calls++
	}
	elapsed := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		if i < 0 {
			i = 0
		}
		return math.Round(float64(lat[i])/float64(time.Microsecond)*10) / 10
	}
	res := benchResult{
		Mode: *mode, Concurrency: 1, Size: *size, Calls: calls, Errors: errs,
		Bytes: calls * int64(*count) * int64(*size), Seconds: math.Round(elapsed*1e4) / 1e4,
		P50Us: pct(0.5), P90Us: pct(0.9), P99Us: pct(0.99), MaxUs: pct(1),
	}
	if elapsed > 0 {
		res.OpsPerSec = math.Round(float64(calls)/elapsed*10) / 10
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, string(out))
	// The harness samples CPU time on the result line: closing waits until it has.
	time.Sleep(100 * time.Millisecond)
	return nil
}
