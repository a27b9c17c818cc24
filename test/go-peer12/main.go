// Command go-peer12 is a Go ttrpc 1.2 peer (Debian's containerd/ttrpc 1.2.7, built with Go 1.24
// by scripts/build-go-peer.sh) for the streaming and protocol-answer tests of this package. It
// serves or calls ttrpc.interop.v1.Interop/Echo and ttrpc.interop.v1.Streaming
// (test/fixtures/interop.proto). ttrpc 1.2 marshals with google.golang.org/protobuf, so the
// messages are dynamicpb messages over a descriptor built in messages.go (there is no protoc).
//
//	go-peer12 server <address>                           prints "ready", serves until SIGTERM
//	go-peer12 client <address> <source|sink|bidi> <count> <size>
//	                                                     one volume case; prints its summary JSON
//	go-peer12 bench <address> [-mode stream] [-d duration] [-count n] [-size bytes] [-warmup n]
//	                                                     whole Source streams for bench/ttrpc.ts
//
// <address> is a unix socket path or @name (abstract socket).
package main

import (
	"fmt"
	"os"
	"strconv"
)

const usage = `usage:
  go-peer12 server <address>
  go-peer12 client <address> <source|sink|bidi> <count> <size>
  go-peer12 bench <address> [-mode stream] [-d duration] [-count n] [-size bytes] [-warmup n]`

func main() {
	var err error
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "bench":
		err = runBench(os.Args[2], os.Args[3:])
	case len(os.Args) == 3 && os.Args[1] == "server":
		err = runServer(os.Args[2])
	case len(os.Args) == 6 && os.Args[1] == "client":
		count, err1 := strconv.Atoi(os.Args[4])
		size, err2 := strconv.Atoi(os.Args[5])
		if err1 != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		err = runClient(os.Args[2], os.Args[3], count, size)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-peer12 %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
