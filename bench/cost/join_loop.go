// Go's golang.org/x/net/ipv6 for bench/cost.ts: join+leave of one
// membership on `lo`, N times, with JoinSourceSpecificGroup +
// LeaveSourceSpecificGroup ("ssm") or JoinGroup + LeaveGroup ("asm").
//
// Speaks the cost worker protocol on stdin/stdout (see join_loop.c): prints
// "ready Go <version>", then answers each "<case> <iterations>" line with
// the mean ns per join+leave, or "error <text>"; exits at end of input.
//
// Builds offline against Debian's golang-golang-x-net-dev:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o bench/.build/join_loop_go bench/cost/join_loop.go
//	printf 'ssm 100000\nasm 100000\n' | bench/.build/join_loop_go
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/net/ipv6"
)

func main() {
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...interface{}) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	conn, err := net.ListenPacket("udp6", "[::]:0")
	if err != nil {
		say("error listen: %v", err)
		os.Exit(1)
	}
	defer conn.Close()
	pc := ipv6.NewPacketConn(conn)
	lo, err := net.InterfaceByName("lo")
	if err != nil || lo.Index != 1 {
		say("error interface lo: %v", err)
		os.Exit(1)
	}
	group := &net.UDPAddr{IP: net.ParseIP("ff3e::b:1")}
	source := &net.UDPAddr{IP: net.ParseIP("2001:db8::b1")}

	say("ready Go %s", runtime.Version())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var name string
		var iters int
		if n, _ := fmt.Sscanf(in.Text(), "%s %d", &name, &iters); n != 2 || iters <= 0 {
			say("error bad request: %s", in.Text())
			continue
		}
		var failed error
		start := time.Now()
		switch name {
		case "ssm":
			for i := 0; i < iters && failed == nil; i++ {
				if failed = pc.JoinSourceSpecificGroup(lo, group, source); failed == nil {
					failed = pc.LeaveSourceSpecificGroup(lo, group, source)
				}
			}
		case "asm":
			for i := 0; i < iters && failed == nil; i++ {
				if failed = pc.JoinGroup(lo, group); failed == nil {
					failed = pc.LeaveGroup(lo, group)
				}
			}
		default:
			say("error unknown case %s", name)
			continue
		}
		elapsed := time.Since(start)
		if failed != nil {
			say("error %v", failed)
		} else {
			say("%.1f", float64(elapsed.Nanoseconds())/float64(iters))
		}
	}
}
