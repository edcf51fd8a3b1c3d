package unixsock

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/internal/testproc"
)

// TestHelperPrintDefaults is not a test: run as another user, it prints what that user's
// default socket paths are.
func TestHelperPrintDefaults(t *testing.T) {
	if os.Getenv("LANYARD_PRINT_DEFAULTS") == "" {
		t.Skip("helper process only")
	}
	fmt.Println(DefaultPath(ServerAdmin), ClientPath(AgentAPI))
	os.Exit(0)
}

func TestDefaultPathOfANormalUser(t *testing.T) {
	if _, err := os.Stat(SystemDir); err == nil {
		t.Skipf("%s exists on this machine; the test must not touch it", SystemDir)
	}
	const uid = 65534 // /run is root's: a normal user's sockets go elsewhere
	tests := []struct {
		name string
		xdg  string
		want string
	}{
		{"in a login session, under $XDG_RUNTIME_DIR", "/run/user/65534",
			"/run/user/65534/lanyard/server/admin.sock /run/user/65534/lanyard/sockets/api.sock"},
		{"without one, under /tmp/lanyard-<uid>", "",
			os.TempDir() + "/lanyard-65534/server/admin.sock " + os.TempDir() + "/lanyard-65534/sockets/api.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := testproc.AsUser(t, uid, "^TestHelperPrintDefaults$", "LANYARD_PRINT_DEFAULTS=1", "XDG_RUNTIME_DIR="+tt.xdg)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Fatalf("defaults as uid %d: %q, want %q", uid, got, tt.want)
			}
		})
	}
}
