// Command go-peer is a Go ttrpc (containerd/ttrpc) peer used by the interop
// tests and benchmarks of this package. It serves or calls the
// ttrpc.interop.v1.Interop service defined in test/fixtures/interop.proto.
//
//	go-peer server [-creds] <address>
//	go-peer client <address>          (JSON lines on stdin, one JSON line per call on stdout)
//	go-peer bench <address> [-mode serial|parallel|idle] [-n calls] [-d duration]
//	              [-c concurrency] [-conns connections] [-size bytes] [-warmup calls]
//	              [-windows n]
//
// <address> is a unix socket path, or @name for a Linux abstract socket.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

const (
	interopService = "ttrpc.interop.v1.Interop"
	echoMethod     = "Echo"
)

const usage = `usage:
  go-peer server [-creds] <address>
  go-peer client <address>
  go-peer bench <address> [-mode serial|parallel|idle] [-n calls] [-d duration] [-c concurrency] [-conns connections] [-size bytes] [-warmup calls]
<address> is a unix socket path or @name (abstract socket)`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "server":
		err = runServer(args)
	case "client":
		err = runClient(args)
	case "bench":
		err = runBench(args)
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "go-peer: unknown subcommand %q\n%s\n", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-peer %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// parseArgs parses flags that may appear before or after the positional
// arguments (the flag package alone stops at the first positional one) and
// returns the positional arguments. It exits with status 2 on bad usage.
func parseArgs(fs *flag.FlagSet, args []string, nPositional int) []string {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			fmt.Fprintf(os.Stderr, "go-peer %s: %v\n%s\n", fs.Name(), err, usage)
			os.Exit(2)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) != nPositional {
		fmt.Fprintf(os.Stderr, "go-peer %s: expected %d positional argument(s), got %q\n%s\n",
			fs.Name(), nPositional, positional, usage)
		os.Exit(2)
	}
	return positional
}

// isAbstract reports whether address names a Linux abstract socket ("@name").
// Go's net package maps a leading '@' to the NUL byte of the abstract namespace.
func isAbstract(address string) bool {
	return strings.HasPrefix(address, "@") || strings.HasPrefix(address, "\x00")
}

func dial(address string) (net.Conn, error) {
	return net.Dial("unix", address)
}
