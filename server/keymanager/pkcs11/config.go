package pkcs11

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Config says which token to use and how to log in to it.
type Config struct {
	// ModulePath is the vendor's PKCS#11 library (.so).
	ModulePath string
	// TokenLabel selects the token by label; when empty, Slot selects it by slot ID.
	TokenLabel string
	Slot       uint
	// PIN is the user PIN; PINSource says where it came from (for errors, e.g.
	// "pkcs11.pin_file /etc/lanyard/pin"), never the PIN itself.
	PIN       string
	PINSource string
	// LabelPrefix starts the CKA_LABEL (and CKA_ID) of every object this key manager makes
	// and the only objects it looks at, so servers sharing a token never see each other's
	// keys: the server passes "<key_label_prefix><server ID>/".
	LabelPrefix string
	// Sessions caps the sessions open at once (concurrent signatures). Default 4.
	Sessions int
	// Log receives warnings (a session dropped after the token went away). Default: discard.
	Log *slog.Logger
}

// ReadPIN reads the user PIN from a file (its first line; 0600 is advised) or from an
// environment variable, whichever is set. The PIN never appears in its errors.
func ReadPIN(file, env string) (pin, source string, err error) {
	switch {
	case file != "" && env != "":
		return "", "", errors.New("config: pkcs11.pin_file and pkcs11.pin_env are both set: keep one")
	case file != "":
		source = "pkcs11.pin_file " + file
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("reading the PKCS#11 PIN: %s: %w (create it holding the token's user PIN, readable only by the server's user)", source, err)
		}
		pin, _, _ = strings.Cut(string(b), "\n")
		pin = strings.TrimRight(pin, "\r")
		if pin == "" {
			return "", "", fmt.Errorf("reading the PKCS#11 PIN: %s is empty: write the token's user PIN into it", source)
		}
		return pin, source, nil
	case env != "":
		source = "pkcs11.pin_env " + env
		pin, ok := os.LookupEnv(env)
		if !ok || pin == "" {
			return "", "", fmt.Errorf("reading the PKCS#11 PIN: %s: the environment variable %s is not set or empty: set it to the token's user PIN", source, env)
		}
		return pin, source, nil
	}
	return "", "", errors.New("config: pkcs11.pin_file or pkcs11.pin_env is required")
}

// tokenName describes the configured token for errors.
func (c Config) tokenName() string {
	if c.TokenLabel != "" {
		return fmt.Sprintf("token %q", c.TokenLabel)
	}
	return fmt.Sprintf("token in slot %d", c.Slot)
}
