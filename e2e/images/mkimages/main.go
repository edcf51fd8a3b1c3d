// Command mkimages writes the project's container images as OCI tarballs (`make
// images`), without a container engine:
//
//	go run ./e2e/images/mkimages -out bin/images -tag v1.2.3
//
// Each tarball loads with `ctr images import`, `docker load` or `podman load`, and
// pushes with `crane push bin/images/lanyard-server.tar REGISTRY/lanyard-server:v1.2.3`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lanyard-dev/lanyard/e2e/images"
)

func main() {
	out := flag.String("out", "bin/images", "folder for the tarballs")
	tag := flag.String("tag", "latest", "tag of the lanyard-server, lanyard-agent and workload images")
	flag.Parse()
	imgs, err := images.Build(".", *out, *tag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
	for _, img := range imgs {
		fmt.Printf("%s\t%s\n", img.Tarball, img.Ref)
	}
}
