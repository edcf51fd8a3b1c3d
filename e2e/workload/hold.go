package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// hold opens -n connections to the Workload API socket without speaking on them, prints
// "held N" and keeps them until ctx ends: one local user trying to starve the agent.
func hold(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	n := fs.Int("n", 10000, "connections to open and hold")
	_ = fs.Parse(args)
	sock := strings.TrimPrefix(os.Getenv("SPIFFE_ENDPOINT_SOCKET"), "unix://")
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < *n {
		c, err := net.Dial("unix", sock)
		if errors.Is(err, syscall.EAGAIN) {
			time.Sleep(time.Millisecond) // the agent's listen backlog is full: pace, then retry
			continue
		}
		if err != nil {
			return fmt.Errorf("connection %d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("held", len(conns))
	<-ctx.Done()
	return nil
}
