package unix

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lanyard-dev/lanyard/attestors"
)

// SelectorType is the type of every selector this attestor produces.
const SelectorType = "unix"

// DefaultWorkloadSizeLimit is the largest executable hashed for unix:sha256 by default.
const DefaultWorkloadSizeLimit = 256 << 20

// Config configures the unix attestor. The zero value is usable but does not discover
// the workload path; DefaultConfig is what lanyard-agent starts from.
type Config struct {
	// DiscoverWorkloadPath adds unix:path:<executable> and unix:sha256:<hex> selectors.
	// lanyard-agent turns it on by default (workload_attestors.unix.discover_workload_path).
	DiscoverWorkloadPath bool
	// WorkloadSizeLimit is the largest executable, in bytes, that is hashed. Bigger
	// executables get no unix:sha256 selector (so entries requiring one do not match).
	// 0 means DefaultWorkloadSizeLimit; negative means no limit.
	WorkloadSizeLimit int64
	// ProcRoot is where procfs is mounted. Default /proc.
	ProcRoot string
	// PasswdPath and GroupPath name the user and group databases used to turn ids into
	// names. Default /etc/passwd and /etc/group (the agent host's, not the workload's:
	// a container's own files are under the workload's control).
	PasswdPath string
	GroupPath  string
	// Log receives warnings (e.g. an executable too big to hash). Default: discarded.
	Log *slog.Logger
}

// DefaultConfig returns the configuration lanyard-agent uses unless told otherwise.
func DefaultConfig() Config {
	return Config{DiscoverWorkloadPath: true, WorkloadSizeLimit: DefaultWorkloadSizeLimit}
}

// Attestor is the unix workload attestor. It is safe for concurrent use.
type Attestor struct {
	cfg    Config
	users  *idNames
	groups *idNames
	hashes *hashCache
}

var _ attestors.WorkloadAttestor = (*Attestor)(nil)

// New returns a unix attestor; unset Config fields take their defaults.
func New(cfg Config) *Attestor {
	if cfg.WorkloadSizeLimit == 0 {
		cfg.WorkloadSizeLimit = DefaultWorkloadSizeLimit
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.PasswdPath == "" {
		cfg.PasswdPath = "/etc/passwd"
	}
	if cfg.GroupPath == "" {
		cfg.GroupPath = "/etc/group"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Attestor{
		cfg:    cfg,
		users:  newIDNames(cfg.PasswdPath),
		groups: newIDNames(cfg.GroupPath),
		hashes: newHashCache(cfg.WorkloadSizeLimit, cfg.Log),
	}
}

// Attest returns the selectors of process pid.
func (a *Attestor) Attest(ctx context.Context, pid int32) ([]attestors.Selector, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("unix attestor: invalid pid %d", pid)
	}
	dir := filepath.Join(a.cfg.ProcRoot, strconv.Itoa(int(pid)))
	st, err := readStatus(filepath.Join(dir, "status"))
	if err != nil {
		return nil, fmt.Errorf("unix attestor: %w", processErr(pid, err))
	}
	sels := make([]attestors.Selector, 0, 6+2*len(st.groups))
	add := func(kind, value string) {
		sels = append(sels, attestors.Selector{Type: SelectorType, Value: kind + ":" + value})
	}
	// One look at each database per call, however many groups the process has.
	users, groups := a.users.load(), a.groups.load()
	add("uid", st.uid)
	if name, ok := users[st.uid]; ok {
		add("user", name)
	}
	add("gid", st.gid)
	if name, ok := groups[st.gid]; ok {
		add("group", name)
	}
	for _, g := range st.groups {
		add("supplementary_gid", g)
		if name, ok := groups[g]; ok {
			add("supplementary_group", name)
		}
	}
	if !a.cfg.DiscoverWorkloadPath {
		return sels, nil
	}

	// The link names the executable as seen in the workload's mount namespace, which is
	// what operators write in entries; " (deleted)" stays, so a replaced binary matches
	// no path selector.
	path, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return nil, fmt.Errorf("unix attestor: reading executable path: %w", processErr(pid, err))
	}
	add("path", path)
	// Opening /proc/<pid>/exe reaches the very file the process runs, even inside
	// another mount namespace (a container) or after it was unlinked.
	sum, err := a.hashes.sum(ctx, filepath.Join(dir, "exe"))
	if err != nil {
		return nil, fmt.Errorf("unix attestor: hashing executable %s: %w", path, processErr(pid, err))
	}
	if sum != "" {
		add("sha256", sum)
	}
	return sels, nil
}

// processErr explains the common case of a caller that exited before being examined.
func processErr(pid int32, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("process %d no longer exists: %w", pid, err)
	}
	return err
}
