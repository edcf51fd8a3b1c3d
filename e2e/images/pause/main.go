// Command pause holds a pod's namespaces open: it waits for SIGTERM or SIGINT and
// exits. It is the sandbox image of the test node (e2e/k8snode).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
