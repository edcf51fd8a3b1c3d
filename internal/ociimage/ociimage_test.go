package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readTar returns the files of a tarball by name.
func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = b
		}
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// TestTarballIsAConsistentOCILayoutAndDockerArchive follows the OCI layout from
// index.json down to the file in the layer, checking every digest on the way, and the
// docker-save manifest to the same config and layer.
func TestTarballIsAConsistentOCILayoutAndDockerArchive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.tar")
	if err := Write(path, Image{
		Ref: "docker.io/lanyard/demo:v1", Entrypoint: []string{"/usr/local/bin/demo"},
		Files: []File{{Path: "/usr/local/bin/demo", Mode: 0o755, Data: []byte("#!binary")}},
	}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, bytes.NewReader(data))
	blob := func(d descriptor) []byte {
		t.Helper()
		b, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		if !ok || sha(b) != d.Digest || len(b) != d.Size {
			t.Fatalf("blob %s missing or not matching its descriptor", d.Digest)
		}
		return b
	}
	var index struct{ Manifests []descriptor }
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	if a := index.Manifests[0].Annotations; a["io.containerd.image.name"] != "docker.io/lanyard/demo:v1" || a["org.opencontainers.image.ref.name"] != "v1" {
		t.Fatalf("annotations %v", a)
	}
	var man struct {
		Config descriptor
		Layers []descriptor
	}
	if err := json.Unmarshal(blob(index.Manifests[0]), &man); err != nil || len(man.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var cfg struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(man.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layerTar, _ := io.ReadAll(zr)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != sha(layerTar) {
		t.Fatalf("diff_ids %v do not match the layer", cfg.RootFS.DiffIDs)
	}
	if got := string(readTar(t, bytes.NewReader(layerTar))["usr/local/bin/demo"]); got != "#!binary" || cfg.Config.Entrypoint[0] != "/usr/local/bin/demo" {
		t.Fatalf("layer file %q, entrypoint %v", got, cfg.Config.Entrypoint)
	}
	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	if d := docker[0]; d.RepoTags[0] != "lanyard/demo:v1" || sha(files[d.Config]) != man.Config.Digest || sha(files[d.Layers[0]]) != man.Layers[0].Digest {
		t.Fatalf("manifest.json does not point at the image: %+v", d)
	}
}

func TestRefsWithoutTagAreRefused(t *testing.T) {
	for _, ref := range []string{"lanyard/demo", "localhost:5000/demo", "demo@sha256:00"} {
		if err := Write(filepath.Join(t.TempDir(), "x.tar"), Image{Ref: ref}); err == nil {
			t.Errorf("%s accepted", ref)
		}
	}
}
