// Package ociimage writes container images without a container engine: one layer of
// files, an OCI image config and manifest, packed as a tarball that is at once an OCI
// image layout (`ctr images import`, `skopeo copy oci-archive:`) and a `docker save`
// archive (`docker load`, `podman load`, `crane push`).
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// File is one file of the image's layer.
type File struct {
	Path string // absolute, e.g. /usr/local/bin/lanyard-server
	Mode os.FileMode
	Data []byte
}

// Image is a single-layer image for the build machine's architecture.
type Image struct {
	// Ref is the image's full name, e.g. docker.io/lanyard/lanyard-server:latest.
	Ref        string
	Entrypoint []string
	Files      []File
}

// Media types of the OCI image spec.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type blob struct {
	desc descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: len(data)}, data}
}

func (b blob) path() string { return "blobs/sha256/" + strings.TrimPrefix(b.desc.Digest, "sha256:") }

// Write writes img as a tarball at file.
func Write(file string, img Image) error {
	name, tag, err := splitRef(img.Ref)
	if err != nil {
		return err
	}
	layerTar, err := layer(img.Files)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(layerTar); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	diffID := sha256.Sum256(layerTar)
	plat := platform{Architecture: runtime.GOARCH, OS: "linux"}
	cfg, err := json.Marshal(map[string]any{
		"architecture": plat.Architecture,
		"os":           plat.OS,
		"config":       map[string]any{"Entrypoint": img.Entrypoint, "Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return err
	}
	config, lay := newBlob(mediaConfig, cfg), newBlob(mediaLayer, gz.Bytes())
	man, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaManifest, "config": config.desc, "layers": []descriptor{lay.desc},
	})
	if err != nil {
		return err
	}
	manifest := newBlob(mediaManifest, man)
	md := manifest.desc
	md.Platform = &plat
	md.Annotations = map[string]string{
		"io.containerd.image.name":          img.Ref,
		"org.opencontainers.image.ref.name": tag,
	}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaIndex, "manifests": []descriptor{md}})
	if err != nil {
		return err
	}
	dockerManifest, err := json.Marshal([]map[string]any{{
		"Config": config.path(), "RepoTags": []string{strings.TrimPrefix(name, "docker.io/") + ":" + tag}, "Layers": []string{lay.path()},
	}})
	if err != nil {
		return err
	}

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"manifest.json", dockerManifest},
		{config.path(), config.data},
		{lay.path(), lay.data},
		{manifest.path(), manifest.data},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := writeEntry(tw, e.name, 0o644, e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(file, out.Bytes(), 0o644)
}

// layer is an uncompressed tar of files and their parent folders, with fixed times so
// the same inputs give the same digest.
func layer(files []File) ([]byte, error) {
	dirs := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("image file %q: path must be absolute", f.Path)
		}
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // parents before children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := writeEntry(tw, strings.TrimPrefix(f.Path, "/"), int64(f.Mode.Perm()), f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeEntry(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// splitRef splits "registry/repo:tag" into "registry/repo" and "tag".
func splitRef(ref string) (name, tag string, err error) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") || strings.Contains(ref, "@") {
		return "", "", fmt.Errorf("image reference %q: want NAME:TAG", ref)
	}
	return ref[:i], ref[i+1:], nil
}
