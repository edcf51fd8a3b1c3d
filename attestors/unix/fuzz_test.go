package unix

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseStatus feeds /proc/<pid>/status contents. Whatever is accepted becomes
// unix:uid, unix:gid and unix:supplementary_gid selectors, so every id must be a plain
// decimal 32-bit number: nothing a process could smuggle into a selector.
func FuzzParseStatus(f *testing.F) {
	if self, err := os.ReadFile("/proc/self/status"); err == nil {
		f.Add(self)
	}
	for _, s := range []string{
		"Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 1000 \n",
		"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n",
		"Uid:\t4294967295\t0\t0\t0\nGid:\t4294967296\t0\t0\t0\n",
		"Uid:\t-1\nGid:\t1\n",
		"Uid:\t+1\nGid:\t0x1\n",
		"Name:\tUid:\t0\nUid:\t1000\nGid:\t1000\n",
		"Uid:\t1000\nGid:\t1000\nGroups:\t1 2 unix:uid:0\n",
		"Uid:1000\nGid:1000\nUid:0\n",
		"Uid:\t\nGid:\t1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStatus(data)
		if err != nil {
			return
		}
		for _, id := range append([]string{st.uid, st.gid}, st.groups...) {
			if _, err := strconv.ParseUint(id, 10, 32); err != nil || strings.TrimLeft(id, "0123456789") != "" {
				t.Fatalf("accepted id %q from %q", id, data)
			}
		}
	})
}
