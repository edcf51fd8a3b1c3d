//go:build cgo

package pkcs11

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// KeyManager keeps keys as objects on one PKCS#11 token; see the package doc. It is safe
// for concurrent use: each operation takes a session of its own from a small pool.
type KeyManager struct {
	cfg       Config
	ctx       *p11.Ctx
	moduleKey string

	slotMu sync.Mutex
	slot   uint // found again by label when the token comes back in another slot

	idle  chan p11.SessionHandle // sessions not in use
	slots chan struct{}          // one per open session, at most cfg.Sessions

	keysMu sync.Mutex
	keys   map[string]*signer // by key ID, filled by GenerateKey and GetKey

	life   sync.RWMutex // held shared by operations, exclusively by Close
	closed bool
}

// Open loads the module, finds the token and logs in with the PIN. Each bad setting
// (module path, token label or slot, PIN) gives one error naming the setting to fix.
func Open(cfg Config) (*KeyManager, error) {
	if cfg.Sessions <= 0 {
		cfg.Sessions = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, key, err := loadModule(cfg.ModulePath)
	if err != nil {
		return nil, err
	}
	k := &KeyManager{cfg: cfg, ctx: ctx, moduleKey: key, idle: make(chan p11.SessionHandle, cfg.Sessions),
		slots: make(chan struct{}, cfg.Sessions), keys: map[string]*signer{}}
	if k.slot, err = k.findSlot(); err != nil {
		unloadModule(key)
		return nil, err
	}
	s, err := k.session()
	if err != nil {
		unloadModule(key)
		return nil, err
	}
	if err := k.login(s); err != nil {
		k.discard(s)
		unloadModule(key)
		return nil, err
	}
	k.release(s)
	return k, nil
}

var _ io.Closer = (*KeyManager)(nil)

// Close closes the sessions and, when no other key manager of this process uses the
// module, finalises it. The keys stay on the token.
func (k *KeyManager) Close() error {
	k.life.Lock()
	defer k.life.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	k.discardIdle()
	unloadModule(k.moduleKey)
	return nil
}

// findSlot finds the configured token among the slots that hold one.
func (k *KeyManager) findSlot() (uint, error) {
	slots, err := k.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: listing the slots of %s: %w", k.cfg.ModulePath, err)
	}
	var seen []string
	for _, id := range slots {
		info, err := k.ctx.GetTokenInfo(id)
		if err != nil || info.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		label := strings.TrimRight(info.Label, " \x00")
		seen = append(seen, fmt.Sprintf("%q (slot %d)", label, id))
		if k.cfg.TokenLabel == "" && id == k.cfg.Slot || k.cfg.TokenLabel != "" && label == k.cfg.TokenLabel {
			return id, nil
		}
	}
	have := "no initialised tokens"
	if len(seen) > 0 {
		have = "tokens " + strings.Join(seen, ", ")
	}
	field := "pkcs11.token_label"
	if k.cfg.TokenLabel == "" {
		field = "pkcs11.slot"
	}
	return 0, fmt.Errorf("pkcs11: %s: %s has no %s (it has %s): fix %s, or initialise the token "+
		"(SoftHSM2: softhsm2-util --init-token --free --label LABEL)", field, k.cfg.ModulePath, k.cfg.tokenName(), have, field)
}

// login logs the application in as the token's user; logging in is per token, so one
// login serves every session.
func (k *KeyManager) login(s p11.SessionHandle) error {
	err := k.ctx.Login(s, p11.CKU_USER, k.cfg.PIN)
	switch {
	case err == nil || isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN):
		return nil
	case isCode(err, p11.CKR_PIN_INCORRECT):
		return fmt.Errorf("pkcs11: logging in to %s: the PIN from %s is wrong (CKR_PIN_INCORRECT; tokens lock after a few wrong PINs): "+
			"put the token's user PIN there", k.cfg.tokenName(), k.cfg.PINSource)
	case isCode(err, p11.CKR_PIN_LOCKED):
		return fmt.Errorf("pkcs11: logging in to %s: the user PIN is locked after wrong PINs (CKR_PIN_LOCKED): "+
			"the token's security officer must reset it", k.cfg.tokenName())
	case isCode(err, p11.CKR_USER_PIN_NOT_INITIALIZED):
		return fmt.Errorf("pkcs11: logging in to %s: the token has no user PIN yet: initialise it (softhsm2-util --init-token sets one)", k.cfg.tokenName())
	}
	return fmt.Errorf("pkcs11: logging in to %s with the PIN from %s: %w", k.cfg.tokenName(), k.cfg.PINSource, err)
}

// do runs fn with a session of its own. It logs in again when the token forgot the login
// (CKR_USER_NOT_LOGGED_IN: all sessions were closed, the token was reinserted), and
// replaces a session the token no longer knows once; when a fresh session fails too, the
// token is gone and the error says so.
func (k *KeyManager) do(fn func(s p11.SessionHandle) error) error {
	k.life.RLock()
	defer k.life.RUnlock()
	if k.closed {
		return fmt.Errorf("pkcs11: the key manager for %s is closed", k.cfg.tokenName())
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var s p11.SessionHandle
		if s, err = k.session(); err != nil {
			return err
		}
		err = fn(s)
		if isCode(err, p11.CKR_USER_NOT_LOGGED_IN) {
			if lerr := k.login(s); lerr != nil {
				k.release(s)
				return lerr
			}
			err = fn(s)
		}
		if !tokenGone(err) {
			k.release(s)
			return err
		}
		// The idle sessions went the same way (all closed, or the token reset): drop them too.
		k.discard(s)
		k.discardIdle()
		k.cfg.Log.Warn("PKCS#11 sessions dropped: the token no longer knows them", "token", k.cfg.tokenName(), "error", err)
	}
	return fmt.Errorf("pkcs11: %s is not reachable (removed, or the module lost it): %w", k.cfg.tokenName(), err)
}

// doLoggedIn is do for operations that look for private objects: the token hides them
// from a logged-out user without an error, so log in first (a no-op when logged in).
func (k *KeyManager) doLoggedIn(fn func(s p11.SessionHandle) error) error {
	return k.do(func(s p11.SessionHandle) error {
		if err := k.login(s); err != nil {
			return err
		}
		return fn(s)
	})
}

// session takes an idle session or, below the cap, opens one; at the cap it waits.
func (k *KeyManager) session() (p11.SessionHandle, error) {
	select {
	case s := <-k.idle:
		return s, nil
	default:
	}
	select {
	case s := <-k.idle:
		return s, nil
	case k.slots <- struct{}{}:
	}
	k.slotMu.Lock()
	defer k.slotMu.Unlock()
	s, err := k.ctx.OpenSession(k.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if tokenGone(err) && k.cfg.TokenLabel != "" {
		// The token may be back in another slot (SoftHSM2 and some HSMs renumber).
		if slot, ferr := k.findSlot(); ferr == nil {
			k.slot = slot
			s, err = k.ctx.OpenSession(k.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
		}
	}
	if err != nil {
		<-k.slots
		return 0, fmt.Errorf("pkcs11: opening a session on %s (slot %d): %w", k.cfg.tokenName(), k.slot, err)
	}
	return s, nil
}

func (k *KeyManager) release(s p11.SessionHandle) { k.idle <- s }

func (k *KeyManager) discard(s p11.SessionHandle) {
	_ = k.ctx.CloseSession(s)
	<-k.slots
}

func (k *KeyManager) discardIdle() {
	for {
		select {
		case s := <-k.idle:
			k.discard(s)
		default:
			return
		}
	}
}
