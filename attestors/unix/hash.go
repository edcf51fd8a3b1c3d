package unix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// maxHashes bounds the digest cache; a host runs far fewer distinct executables.
const maxHashes = 4096

// hashCache remembers executable digests by file identity (device, inode, size,
// modification time), so the Workload API hot path hashes each binary once. Concurrent
// requests for the same file share one hashing pass.
type hashCache struct {
	limit int64
	log   *slog.Logger

	mu       sync.Mutex
	sums     map[fileStamp]string // "" marks a file over the size limit
	inflight map[fileStamp]*hashCall
}

type hashCall struct {
	done chan struct{}
	sum  string
	err  error
}

func newHashCache(limit int64, log *slog.Logger) *hashCache {
	return &hashCache{limit: limit, log: log, sums: map[fileStamp]string{}, inflight: map[fileStamp]*hashCall{}}
}

// sum returns the hex SHA-256 of the file at path, or "" when it exceeds the size limit.
func (h *hashCache) sum(ctx context.Context, path string) (string, error) {
	// The hot path is a cache hit: one stat, no open.
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	s, ok := h.sums[stampOf(fi)]
	h.mu.Unlock()
	if ok {
		return s, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// Key by the file actually opened, in case the path now names another one.
	if fi, err = f.Stat(); err != nil {
		return "", err
	}
	key := stampOf(fi)

	h.mu.Lock()
	if s, ok := h.sums[key]; ok {
		h.mu.Unlock()
		return s, nil
	}
	if c, ok := h.inflight[key]; ok {
		h.mu.Unlock()
		select {
		case <-c.done:
			return c.sum, c.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c := &hashCall{done: make(chan struct{})}
	h.inflight[key] = c
	h.mu.Unlock()

	// The digest is shared, so it is computed to the end even if this caller gives up.
	c.sum, c.err = h.compute(f, fi.Size(), path)
	h.mu.Lock()
	delete(h.inflight, key)
	if c.err == nil {
		if len(h.sums) >= maxHashes {
			for k := range h.sums {
				delete(h.sums, k)
				break
			}
		}
		h.sums[key] = c.sum
	}
	h.mu.Unlock()
	close(c.done)
	return c.sum, c.err
}

var errTooBig = errors.New("executable exceeds the size limit")

func (h *hashCache) compute(f *os.File, size int64, path string) (string, error) {
	if h.limit > 0 && size > h.limit {
		// Logged once per file: the result is cached like a digest.
		h.log.Warn("workload executable is larger than workload_size_limit; no unix:sha256 selector for it",
			"path", path, "size", size, "limit", h.limit)
		return "", nil
	}
	d := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := f.Read(buf)
		d.Write(buf[:m])
		n += int64(m)
		if h.limit > 0 && n > h.limit {
			return "", fmt.Errorf("%w while reading (it grew)", errTooBig)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(d.Sum(nil)), nil
}
