// Package images builds the project's container images without a container engine:
// lanyard-server, lanyard-agent, the e2e workload and a pause image, each a static Go
// binary in one layer, written as OCI image tarballs by internal/ociimage.
package images

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/lanyard-dev/lanyard/internal/ociimage"
)

// Repository is where the images are named, e.g. docker.io/lanyard/lanyard-server.
const Repository = "docker.io/lanyard"

// PauseRef is the pause image; the test node's containerd uses it as sandbox image.
const PauseRef = Repository + "/pause:1"

// Image is one image the project builds.
type Image struct {
	Name    string // image and binary name, e.g. lanyard-server
	Package string // Go package of the binary, relative to the repository root
	Ref     string // full reference, filled in by Build
	Tarball string // path of the written tarball, filled in by Build
}

// All lists the images with their binaries.
func All() []Image {
	return []Image{
		{Name: "lanyard-server", Package: "./cmd/lanyard-server"},
		{Name: "lanyard-agent", Package: "./cmd/lanyard-agent"},
		{Name: "workload", Package: "./e2e/workload"},
		{Name: "pause", Package: "./e2e/images/pause"},
	}
}

// Build compiles each image's binary (static, CGO_ENABLED=0) from the repository at
// repo and writes outDir/<name>.tar, tagged tag (the pause image keeps PauseRef's).
func Build(repo, outDir, tag string) ([]Image, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	binDir, err := os.MkdirTemp("", "lanyard-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	imgs := All()
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", binDir + "/"}
	for _, img := range imgs {
		args = append(args, img.Package)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	for i := range imgs {
		img := &imgs[i]
		img.Ref = Repository + "/" + img.Name + ":" + tag
		if img.Name == "pause" {
			img.Ref = PauseRef
		}
		bin, err := os.ReadFile(filepath.Join(binDir, filepath.Base(img.Package)))
		if err != nil {
			return nil, err
		}
		exe := "/usr/local/bin/" + img.Name
		img.Tarball = filepath.Join(outDir, img.Name+".tar")
		if err := ociimage.Write(img.Tarball, ociimage.Image{
			Ref:        img.Ref,
			Entrypoint: []string{exe},
			Files:      []ociimage.File{{Path: exe, Mode: 0o755, Data: bin}},
		}); err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Name, err)
		}
	}
	return imgs, nil
}
