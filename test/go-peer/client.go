package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callInput is one JSON line read by `go-peer client`.
type callInput struct {
	Service   string      `json:"service"`
	Method    string      `json:"method"`
	Payload   string      `json:"payload"`
	TimeoutMs *float64    `json:"timeout_ms,omitempty"`
	Metadata  [][2]string `json:"metadata,omitempty"`
}

// callOutput is one JSON line written by `go-peer client`.
type callOutput struct {
	Code    int     `json:"code"`
	Message string  `json:"message"`
	Payload *string `json:"payload,omitempty"`
	Us      int64   `json:"us"`
}

type orderedMetadataKey struct{}

// orderedMetadata is a client interceptor that rewrites Request.metadata in
// the exact order given by the caller. ttrpc's MD is a map, so Client.Call
// (via MD.setRequest) emits keys in random map order; values of one key keep
// their order. The MD passed with ttrpc.WithMetadata carries the same
// key/value multiset, so the interceptor only changes the order.
func orderedMetadata(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, _ *ttrpc.UnaryClientInfo, invoke ttrpc.Invoker) error {
	if kvs, ok := ctx.Value(orderedMetadataKey{}).([]*ttrpc.KeyValue); ok {
		req.Metadata = kvs
	}
	return invoke(ctx, req, resp)
}

func runClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	address := parseArgs(fs, args, 1)[0]

	conn, err := dial(address)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(orderedMetadata))
	defer client.Close()

	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out) // Encode appends '\n'

	for {
		line, rerr := in.ReadBytes('\n')
		if len(trimSpace(line)) > 0 {
			res := doCall(client, line)
			if err := enc.Encode(res); err != nil {
				return err
			}
			if err := out.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

func doCall(client *ttrpc.Client, line []byte) callOutput {
	var in callInput
	if err := json.Unmarshal(line, &in); err != nil {
		return callOutput{Code: int(codes.InvalidArgument), Message: "go-peer: bad input line: " + err.Error()}
	}
	payload, err := base64.StdEncoding.DecodeString(in.Payload)
	if err != nil {
		if payload, err = base64.RawStdEncoding.DecodeString(in.Payload); err != nil {
			return callOutput{Code: int(codes.InvalidArgument), Message: "go-peer: bad base64 payload: " + err.Error()}
		}
	}

	ctx := context.Background()
	if len(in.Metadata) > 0 {
		md := ttrpc.MD{}
		kvs := make([]*ttrpc.KeyValue, 0, len(in.Metadata))
		for _, kv := range in.Metadata {
			// Keys are used verbatim (MD.Append/Set would lower-case them).
			md[kv[0]] = append(md[kv[0]], kv[1])
			kvs = append(kvs, &ttrpc.KeyValue{Key: kv[0], Value: kv[1]})
		}
		ctx = ttrpc.WithMetadata(ctx, md)
		ctx = context.WithValue(ctx, orderedMetadataKey{}, kvs)
	}
	if in.TimeoutMs != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*in.TimeoutMs*float64(time.Millisecond)))
		defer cancel()
	}

	req := &RawMessage{Data: payload}
	resp := &RawMessage{}
	start := time.Now()
	err = client.Call(ctx, in.Service, in.Method, req, resp)
	us := time.Since(start).Microseconds()

	if err != nil {
		code, msg := errorCode(err)
		return callOutput{Code: code, Message: msg, Us: us}
	}
	enc := base64.StdEncoding.EncodeToString(resp.Data)
	return callOutput{Code: 0, Message: "", Payload: &enc, Us: us}
}

// errorCode maps a ttrpc Call error to a gRPC code and message: status errors
// as sent by the server, client-side context errors as DEADLINE_EXCEEDED /
// CANCELLED, connection errors as UNAVAILABLE, anything else as UNKNOWN.
func errorCode(err error) (int, string) {
	if err == nil {
		return int(codes.OK), ""
	}
	if st, ok := status.FromError(err); ok {
		return int(st.Code()), st.Message()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return int(codes.DeadlineExceeded), err.Error()
	case errors.Is(err, context.Canceled):
		return int(codes.Canceled), err.Error()
	case isConnError(err):
		return int(codes.Unavailable), err.Error()
	}
	return int(codes.Unknown), err.Error()
}

func isConnError(err error) bool {
	if errors.Is(err, ttrpc.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}
