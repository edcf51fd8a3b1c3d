// Package datadir opens what a server keeps between runs: its datastore, its key manager
// (CA and JWT keys) and its server ID in data_dir, and refuses to start a new CA over a
// data_dir that shows the server ran before while the datastore lost its state.
package datadir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/durable"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
	"github.com/lanyard-dev/lanyard/server/keymanager"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11"
)

// OpenStore opens the backend that datastore.type selects (Validate has checked it).
// On failure the returned Store is a nil interface, never a typed nil pointer.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (datastore.Store, error) {
	ds := cfg.Datastore
	switch ds.Type {
	case "postgres":
		s, err := postgres.Open(ctx, ds.ConnectionString, postgres.Pool{
			MaxOpenConns: ds.MaxOpenConns, MaxIdleConns: ds.MaxIdleConns,
			ConnMaxLifetime: ds.ConnMaxLifetime.D(), ConnMaxIdleTime: ds.ConnMaxIdleTime.D(),
		}, log)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "sqlite", "":
		s, err := sqlite.OpenWith(ctx, ds.ConnectionString, sqlite.Options{AcceptLoss: cfg.ForceNew}, log)
		if err != nil {
			return nil, withRestoreHint(cfg, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown datastore.type %q", ds.Type)
}

// priorState reports what in data_dir shows that this server ran before: CA keys on disk
// (and its server_id). Empty means a new server. A server_id alone is not enough: it is
// written before the first CA, so a first start that failed leaves one; and with the
// memory key manager every start begins a new CA anyway.
func priorState(cfg config.Config) []string {
	switch cfg.KeyManager {
	case "memory":
		return nil
	case "pkcs11":
		return tokenState(cfg)
	}
	keys, _ := filepath.Glob(filepath.Join(cfg.DataDir, "keys", "*.pem"))
	if len(keys) == 0 {
		return nil
	}
	found := []string{fmt.Sprintf("%d CA keys (X.509, JWT, WIT)", len(keys))}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "server_id")); err == nil {
		found = append(found, "server_id")
	}
	return found
}

// tokenState is priorState for key_manager: pkcs11: the token holds key objects labelled
// with the ID in server_id. Without a server_id there is no label to look for; a token
// that cannot be opened is reported by the key manager's own opening, later.
func tokenState(cfg config.Config) []string {
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "server_id"))
	if err != nil {
		return nil
	}
	id := strings.TrimSpace(string(b))
	km, err := KeyManager(cfg, id, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil
	}
	tok := km.(*pkcs11.KeyManager)
	defer tok.Close()
	labels, err := tok.Labels(context.Background())
	if err != nil {
		return nil
	}
	n := 0
	for _, l := range labels {
		if strings.HasPrefix(l, cfg.PKCS11.KeyLabelPrefix+id+"/") {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d key objects (X.509, JWT, WIT) on its PKCS#11 token", n), "server_id"}
}

const restoreHint = "restore the datastore from a backup (lanyard-server datastore restore -config FILE BACKUP, " +
	"see README \"Backup and restore\")"

// withRestoreHint adds what to do to a datastore error when data_dir holds prior state.
func withRestoreHint(cfg config.Config, err error) error {
	if len(priorState(cfg)) == 0 {
		return err
	}
	hint := restoreHint + ", or, to give up its entries and agents and begin a new CA, move the damaged file aside " +
		"and start with -forceNew"
	if errors.Is(err, sqlite.ErrLogDamaged) {
		hint = restoreHint + ", or start with -forceNew to go on with what the database file holds without the log"
	}
	return fmt.Errorf("%w; data_dir %s holds this server's state: %s", err, cfg.DataDir, hint)
}

// CheckPriorState refuses to start a new CA over a data_dir that shows this server ran
// before while the datastore holds no CA journal for it: the database was emptied,
// replaced or lost its write-ahead log, and starting would silently drop every entry and
// agent and make every issued SVID untrusted. -forceNew (cfg.ForceNew) overrides.
func CheckPriorState(ctx context.Context, cfg config.Config, store datastore.Store, log *slog.Logger) error {
	found := priorState(cfg)
	if len(found) == 0 {
		return nil
	}
	where := "the datastore"
	if w, ok := store.(interface{ Where() string }); ok {
		where = w.Where()
	}
	var err error
	hint := restoreHint
	if b, readErr := os.ReadFile(filepath.Join(cfg.DataDir, "server_id")); readErr != nil {
		err = fmt.Errorf("data_dir %s holds %s but no server_id file", cfg.DataDir, strings.Join(found, ", "))
		hint = "restore server_id from a backup of data_dir"
	} else if _, fetchErr := store.FetchCAJournal(ctx, strings.TrimSpace(string(b))); errors.Is(fetchErr, datastore.ErrNotFound) {
		err = fmt.Errorf("%s holds no CA state for this server although data_dir %s holds %s: "+
			"it was emptied, replaced or lost its write-ahead log", where, cfg.DataDir, strings.Join(found, ", "))
	} else if fetchErr != nil {
		return fmt.Errorf("reading CA journal: %w", fetchErr)
	}
	if err == nil {
		return nil
	}
	if cfg.ForceNew {
		log.Warn("starting a new CA over existing state as -forceNew asks", "reason", err)
		return nil
	}
	return fmt.Errorf("refusing to start a new CA: %w; %s, or start with -forceNew to begin a new CA "+
		"(agents must attest again and workloads must get the new bundle)", err, hint)
}

// KeyManager opens the key manager key_manager selects: disk keys under data_dir/keys,
// memory, or a PKCS#11 token, where this server's objects are labelled
// "<key_label_prefix><serverID>/<key ID>" so servers sharing a token keep apart.
func KeyManager(cfg config.Config, serverID string, log *slog.Logger) (keymanager.KeyManager, error) {
	switch cfg.KeyManager {
	case "memory":
		return keymanager.NewMemory(), nil
	case "pkcs11":
		p := cfg.PKCS11
		pin, source, err := pkcs11.ReadPIN(p.PINFile, p.PINEnv)
		if err != nil {
			return nil, err
		}
		c := pkcs11.Config{ModulePath: p.ModulePath, TokenLabel: p.TokenLabel, PIN: pin, PINSource: source,
			LabelPrefix: p.KeyLabelPrefix + serverID + "/", Log: log}
		if p.Slot != nil {
			c.Slot = *p.Slot
		}
		km, err := pkcs11.Open(c)
		if err != nil {
			return nil, err
		}
		return km, nil
	}
	km, err := keymanager.NewDisk(filepath.Join(cfg.DataDir, "keys"))
	if err != nil {
		return nil, fmt.Errorf("opening disk key manager: %w", err)
	}
	return km, nil
}

// ServerID returns this server's stable ID (keys its CA journal), creating it once. A
// file that does not hold an ID (torn by a crash, edited) is refused rather than
// replaced: a new ID would leave this server's CA journal behind and start a new CA.
func ServerID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server_id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if raw, err := hex.DecodeString(id); err != nil || len(raw) != 16 {
			return "", fmt.Errorf("%s does not hold a server ID (32 hex digits) but %q: restore it from a backup of data_dir; "+
				"delete it only if this server never signed anything (a new ID starts a new CA)", path, truncate(id, 40))
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("reading server ID: %w", err)
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	id := hex.EncodeToString(raw)
	if err := durable.WriteFile(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("writing server ID: %w", err)
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
