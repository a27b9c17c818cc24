package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const streaming = "ttrpc.interop.v1.Streaming"

// runClient runs one volume case against a Streaming server, consuming slowly on this side, and
// prints what the consuming side saw (for a sink, the server's summary).
func runClient(address, kind string, count, size int) error {
	conn, err := net.Dial("unix", address)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	ctx := context.Background()
	var seen summary
	switch kind {
	case "source":
		req := newMessage(sourceRequest)
		set(req, "count", protoreflect.ValueOfUint32(uint32(count)))
		set(req, "size", protoreflect.ValueOfUint32(uint32(size)))
		stream, err := client.NewStream(ctx, &ttrpc.StreamDesc{StreamingServer: true}, streaming, "Source", req)
		if err != nil {
			return err
		}
		if err := receiveAll(stream, &seen); err != nil {
			return err
		}
	case "sink":
		stream, err := client.NewStream(ctx, &ttrpc.StreamDesc{StreamingClient: true}, streaming, "Sink", nil)
		if err != nil {
			return err
		}
		for i := 0; i < count; i++ {
			if err := stream.SendMsg(newChunk(i, size)); err != nil {
				return err
			}
		}
		if err := stream.CloseSend(); err != nil {
			return err
		}
		resp := newMessage(streamSummary)
		if err := stream.RecvMsg(resp); err != nil {
			return err
		}
		seen = summary{Count: get(resp, "count").Uint(), InOrder: get(resp, "in_order").Uint(), Bytes: get(resp, "bytes").Uint()}
	case "bidi":
		stream, err := client.NewStream(ctx, &ttrpc.StreamDesc{StreamingClient: true, StreamingServer: true}, streaming, "Bidi", nil)
		if err != nil {
			return err
		}
		sent := make(chan error, 1)
		go func() {
			for i := 0; i < count; i++ {
				if err := stream.SendMsg(newChunk(i, size)); err != nil {
					sent <- err
					return
				}
			}
			sent <- stream.CloseSend()
		}()
		if err := receiveAll(stream, &seen); err != nil {
			return err
		}
		if err := <-sent; err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown case kind %q", kind)
	}
	return json.NewEncoder(os.Stdout).Encode(seen)
}

func receiveAll(stream ttrpc.ClientStream, seen *summary) error {
	for {
		c := newMessage(chunk)
		if err := stream.RecvMsg(c); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		seen.see(c)
	}
}
