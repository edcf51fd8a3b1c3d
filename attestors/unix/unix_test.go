package unix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
)

const passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\nweb:x:1000:1000::/home/web:/bin/sh\nweb2:x:1000:1000::/:/bin/sh\n"
const group = "root:x:0:\nweb:x:1000:\nvideo:x:44:web\n"

// fakeProc builds a proc root with one process whose executable is a file holding body.
type fakeProc struct {
	root, exe, passwd, group string
}

func newFakeProc(t *testing.T, pid int, status, body string) fakeProc {
	t.Helper()
	dir := t.TempDir()
	fp := fakeProc{
		root:   filepath.Join(dir, "proc"),
		exe:    filepath.Join(dir, "bin", "server"),
		passwd: filepath.Join(dir, "passwd"),
		group:  filepath.Join(dir, "group"),
	}
	pdir := filepath.Join(fp.root, strconv.Itoa(pid))
	for _, d := range []string{pdir, filepath.Dir(fp.exe)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(pdir, "status"), status)
	write(t, fp.exe, body)
	write(t, fp.passwd, passwd)
	write(t, fp.group, group)
	if err := os.Symlink(fp.exe, filepath.Join(pdir, "exe")); err != nil {
		t.Fatal(err)
	}
	return fp
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (fp fakeProc) attestor(discover bool, limit int64) *Attestor {
	return New(Config{DiscoverWorkloadPath: discover, WorkloadSizeLimit: limit, ProcRoot: fp.root,
		PasswdPath: fp.passwd, GroupPath: fp.group})
}

func sha(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func values(sels []attestors.Selector) []string {
	out := make([]string, len(sels))
	for i, s := range sels {
		out[i] = s.String()
	}
	return out
}

const webStatus = "Name:\tserver\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\nGroups:\t44 1000 7 \n"

func TestAttestSelectors(t *testing.T) {
	tests := []struct {
		name     string
		status   string
		discover bool
		limit    int64
		want     []string
	}{
		{
			name:   "a process is described by its real ids, names and supplementary groups",
			status: webStatus,
			want: []string{"unix:uid:1000", "unix:user:web", "unix:gid:1000", "unix:group:web",
				"unix:supplementary_gid:44", "unix:supplementary_group:video",
				"unix:supplementary_gid:1000", "unix:supplementary_group:web", "unix:supplementary_gid:7"},
		},
		{
			name:   "ids without a name in the host databases get only numeric selectors",
			status: "Uid:\t4242\t4242\t4242\t4242\nGid:\t4343\t4343\t4343\t4343\nGroups:\t\n",
			want:   []string{"unix:uid:4242", "unix:gid:4343"},
		},
		{
			name:     "discovering the workload path adds the executable path and its digest",
			status:   "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n",
			discover: true,
			want:     []string{"unix:uid:0", "unix:user:root", "unix:gid:0", "unix:group:root", "unix:path:EXE", "unix:sha256:" + sha("binary")},
		},
		{
			name:     "an executable over the size limit gets a path but no digest",
			status:   "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n",
			discover: true,
			limit:    3,
			want:     []string{"unix:uid:0", "unix:user:root", "unix:gid:0", "unix:group:root", "unix:path:EXE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := newFakeProc(t, 77, tt.status, "binary")
			got, err := fp.attestor(tt.discover, tt.limit).Attest(context.Background(), 77)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.want)
			for i := range want {
				want[i] = strings.Replace(want[i], "EXE", fp.exe, 1)
			}
			if !slices.Equal(values(got), want) {
				t.Fatalf("selectors\n got %q\nwant %q", values(got), want)
			}
		})
	}
}

func TestAttestErrors(t *testing.T) {
	tests := []struct {
		name, status string
		pid          int32
		wantErr      string
	}{
		{name: "a process that exited is reported as gone", status: webStatus, pid: 78, wantErr: "process 78 no longer exists"},
		{name: "a status without ids is rejected", status: "Name:\tx\n", pid: 77, wantErr: "no Uid or Gid"},
		{name: "a garbled uid is rejected", status: "Uid:\tabc\nGid:\t1\n", pid: 77, wantErr: `"abc" is not an id`},
		{name: "a non-positive pid is rejected", status: webStatus, pid: 0, wantErr: "invalid pid 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := newFakeProc(t, 77, tt.status, "binary")
			_, err := fp.attestor(false, 0).Attest(context.Background(), tt.pid)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestDigestFollowsReplacedExecutable(t *testing.T) {
	fp := newFakeProc(t, 77, webStatus, "version one")
	a := fp.attestor(true, 0)
	digest := func() string {
		t.Helper()
		sels, err := a.Attest(context.Background(), 77)
		if err != nil {
			t.Fatal(err)
		}
		return sels[len(sels)-1].Value
	}
	if got := digest(); got != "sha256:"+sha("version one") {
		t.Fatalf("first digest %s", got)
	}
	// A deploy replaces the binary: a new inode, so the cached digest must not be reused.
	tmp := fp.exe + ".new"
	write(t, tmp, "version two")
	if err := os.Rename(tmp, fp.exe); err != nil {
		t.Fatal(err)
	}
	if got := digest(); got != "sha256:"+sha("version two") {
		t.Fatalf("digest after replacing the executable = %s", got)
	}
	// Rewritten in place with a new modification time: also a new digest.
	write(t, fp.exe, "version three")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(fp.exe, future, future); err != nil {
		t.Fatal(err)
	}
	if got := digest(); got != "sha256:"+sha("version three") {
		t.Fatalf("digest after rewriting the executable = %s", got)
	}
}

func TestUserDatabaseChangesAreSeen(t *testing.T) {
	fp := newFakeProc(t, 77, "Uid:\t5000\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n", "binary")
	a := fp.attestor(false, 0)
	sels, _ := a.Attest(context.Background(), 77)
	if slices.Contains(values(sels), "unix:user:batch") {
		t.Fatal("user named before it existed")
	}
	write(t, fp.passwd, passwd+"batch:x:5000:0::/:/bin/sh\n")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(fp.passwd, future, future); err != nil {
		t.Fatal(err)
	}
	sels, _ = a.Attest(context.Background(), 77)
	if !slices.Contains(values(sels), "unix:user:batch") {
		t.Fatalf("user added to the passwd file is not named: %q", values(sels))
	}
}

// TestAttestSelf runs the attestor against the real /proc with this test process.
func TestAttestSelf(t *testing.T) {
	a := New(DefaultConfig())
	sels, err := a.Attest(context.Background(), int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(body)
	got := values(sels)
	for _, want := range []string{
		"unix:uid:" + strconv.Itoa(os.Getuid()),
		"unix:gid:" + strconv.Itoa(os.Getgid()),
		"unix:path:" + exe,
		"unix:sha256:" + hex.EncodeToString(d[:]),
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in %q", want, got)
		}
	}
}

func BenchmarkAttestSelf(b *testing.B) {
	a := New(DefaultConfig())
	pid := int32(os.Getpid())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Attest(ctx, pid); err != nil {
			b.Fatal(err)
		}
	}
}
