package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Interop/Echo as documented in interop.proto (payload, response_size, sleep_ms, fail_*, and the
// metadata as received: keys verbatim, sorted as go-peer does, values of a key in wire order).
func echo(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	req := newMessage(echoRequest)
	if err := unmarshal(req); err != nil {
		return nil, err
	}
	if ms := get(req, "sleep_ms").Uint(); ms > 0 {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return nil, status.Error(codes.DeadlineExceeded, ctx.Err().Error())
		}
	}
	if code := get(req, "fail_code").Int(); code != 0 {
		return nil, status.Error(codes.Code(code), get(req, "fail_message").String())
	}
	resp := newMessage(echoResponse)
	payload := get(req, "payload").Bytes()
	if n := get(req, "response_size").Uint(); n > 0 {
		payload = []byte(strings.Repeat("x", int(n)))
	}
	set(resp, "payload", protoreflect.ValueOfBytes(payload))
	if md, ok := ttrpc.GetMetadata(ctx); ok {
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		list := resp.Mutable(resp.Descriptor().Fields().ByName("metadata")).List()
		for _, k := range keys {
			for _, v := range md[k] {
				kv := newMessage(keyValue)
				set(kv, "key", protoreflect.ValueOfString(k))
				set(kv, "value", protoreflect.ValueOfString(v))
				list.Append(protoreflect.ValueOfMessage(kv))
			}
		}
	}
	return resp, nil
}

func source(ctx context.Context, ss ttrpc.StreamServer) (interface{}, error) {
	req := newMessage(sourceRequest)
	if err := ss.RecvMsg(req); err != nil {
		return nil, err
	}
	count, size := int(get(req, "count").Uint()), int(get(req, "size").Uint())
	for i := 0; i < count; i++ {
		if err := ss.SendMsg(newChunk(i, size)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func sink(ctx context.Context, ss ttrpc.StreamServer) (interface{}, error) {
	var seen summary
	for {
		c := newMessage(chunk)
		if err := ss.RecvMsg(c); err != nil {
			if errors.Is(err, io.EOF) {
				return seen.message(), nil
			}
			return nil, err
		}
		seen.see(c)
	}
}

func bidi(ctx context.Context, ss ttrpc.StreamServer) (interface{}, error) {
	var seen summary
	for {
		c := newMessage(chunk)
		if err := ss.RecvMsg(c); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			return nil, err
		}
		if err := ss.SendMsg(c); err != nil {
			return nil, err
		}
		seen.see(c)
	}
}

func runServer(address string) error {
	srv, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	srv.RegisterService("ttrpc.interop.v1.Interop", &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{"Echo": echo},
	})
	srv.RegisterService("ttrpc.interop.v1.Streaming", &ttrpc.ServiceDesc{
		Streams: map[string]ttrpc.Stream{
			"Source": {Handler: source, StreamingServer: true},
			"Sink":   {Handler: sink, StreamingClient: true},
			"Bidi":   {Handler: bidi, StreamingClient: true, StreamingServer: true},
		},
	})
	l, err := net.Listen("unix", address)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(context.Background(), l) }()
	fmt.Fprintln(os.Stdout, "ready")
	select {
	case <-sigs:
		srv.Close()
		return nil
	case err := <-serveErr:
		if errors.Is(err, ttrpc.ErrServerClosed) {
			return nil
		}
		return err
	}
}
