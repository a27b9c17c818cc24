package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	creds := fs.Bool("creds", false, "require peers to run as the same user (SO_PEERCRED)")
	address := parseArgs(fs, args, 1)[0]

	var opts []ttrpc.ServerOpt
	if *creds {
		opts = append(opts, ttrpc.WithServerHandshaker(ttrpc.UnixSocketRequireSameUser()))
	}
	srv, err := ttrpc.NewServer(opts...)
	if err != nil {
		return err
	}
	srv.Register(interopService, map[string]ttrpc.Method{
		echoMethod: func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req EchoRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return echo(ctx, &req)
		},
	})

	l, err := net.Listen("unix", address)
	if err != nil {
		return err
	}
	removePath := func() {
		if !isAbstract(address) {
			_ = os.Remove(address)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(context.Background(), l) }()

	// os.Stdout is unbuffered: the line is written with a single write(2).
	if _, err := fmt.Fprintln(os.Stdout, "ready"); err != nil {
		srv.Close()
		removePath()
		return err
	}

	select {
	case <-sigs:
		srv.Close()
		removePath()
		return nil
	case err := <-serveErr:
		removePath()
		if errors.Is(err, ttrpc.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// echo implements Interop.Echo as documented in test/fixtures/interop.proto.
func echo(ctx context.Context, req *EchoRequest) (*EchoResponse, error) {
	resp := &EchoResponse{}
	if dl, ok := ctx.Deadline(); ok {
		resp.TimeoutNano = time.Until(dl).Nanoseconds()
	}
	// ttrpc 1.1.1 stores metadata as map[key][]values built from the wire in
	// order, keys copied verbatim (no lower-casing): per-key order is the wire
	// order; the order across keys is lost, so keys are sorted.
	if md, ok := ttrpc.GetMetadata(ctx); ok {
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range md[k] {
				resp.Metadata = append(resp.Metadata, KeyValue{Key: k, Value: v})
			}
		}
	}

	if req.SleepMs > 0 {
		t := time.NewTimer(time.Duration(req.SleepMs) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			// ttrpc 1.1.1 would map a bare ctx error through convertCode too
			// (DeadlineExceeded / Canceled); make the status explicit.
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, status.Error(codes.DeadlineExceeded, ctx.Err().Error())
			}
			return nil, status.Error(codes.Canceled, ctx.Err().Error())
		}
	}

	if req.FailCode != 0 {
		return nil, status.Error(codes.Code(req.FailCode), req.FailMessage)
	}

	if req.ResponseSize > 0 {
		resp.Payload = bytes.Repeat([]byte{'x'}, int(req.ResponseSize))
	} else {
		resp.Payload = req.Payload
	}
	return resp, nil
}
