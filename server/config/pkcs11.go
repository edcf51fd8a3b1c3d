package config

import (
	"fmt"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
)

// PKCS11Config is where key_manager: pkcs11 keeps the CA, JWT and WIT keys: token objects
// generated inside a PKCS#11 token (an HSM, a cloud HSM's client library, SoftHSM2) that
// never leave it.
type PKCS11Config struct {
	// ModulePath is the vendor's PKCS#11 library (.so), e.g. /usr/lib/softhsm/libsofthsm2.so.
	ModulePath string `yaml:"module_path"`
	// TokenLabel names the token; Slot is the slot ID instead. Exactly one.
	TokenLabel string `yaml:"token_label"`
	Slot       *uint  `yaml:"slot"`
	// PINFile is a file holding the user PIN (one line); PINEnv names an environment
	// variable holding it instead. Exactly one; the PIN is never in this file.
	PINFile string `yaml:"pin_file"`
	PINEnv  string `yaml:"pin_env"`
	// KeyLabelPrefix starts the label of every object this server makes, followed by its
	// server ID, "/" and the key ID. Default "lanyard/".
	KeyLabelPrefix string `yaml:"key_label_prefix"`
}

func (c *Config) validatePKCS11() error {
	p := c.PKCS11
	if c.KeyManager != "pkcs11" {
		if p != nil {
			return yamlconf.FieldError("pkcs11", fmt.Sprintf("is set but key_manager is %q: set key_manager: pkcs11, or remove the pkcs11 section", c.KeyManager))
		}
		return nil
	}
	if p == nil {
		return yamlconf.FieldError("pkcs11", "is required with key_manager: pkcs11 (module_path, token_label or slot, pin_file or pin_env)")
	}
	if p.ModulePath == "" {
		return yamlconf.FieldError("pkcs11.module_path", "is required: the token vendor's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	}
	if (p.TokenLabel == "") == (p.Slot == nil) {
		return yamlconf.FieldError("pkcs11.token_label", "or pkcs11.slot: set exactly one (token_label is steadier: slot IDs can change when tokens are added)")
	}
	if (p.PINFile == "") == (p.PINEnv == "") {
		return yamlconf.FieldError("pkcs11.pin_file", "or pkcs11.pin_env: set exactly one (a file holding the user PIN, or the name of an environment variable holding it)")
	}
	if strings.ContainsAny(p.PINEnv, "=$ ") {
		return yamlconf.FieldError("pkcs11.pin_env", fmt.Sprintf("%q is the name of an environment variable, without $ (e.g. LANYARD_PKCS11_PIN)", p.PINEnv))
	}
	if p.KeyLabelPrefix == "" {
		p.KeyLabelPrefix = "lanyard/"
	}
	return nil
}
