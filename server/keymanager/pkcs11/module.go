//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// modules shares one loaded, initialised library per file among the key managers of a
// process: C_Initialize and C_Finalize act on the whole process, so a second key manager
// must not initialise again, and closing one must not finalise under the other.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

type module struct {
	ctx  *p11.Ctx
	refs int
}

// loadModule loads and initialises the library at path once per process; every call
// must be paired with unloadModule(key).
func loadModule(path string) (ctx *p11.Ctx, key string, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, "", fmt.Errorf("pkcs11.module_path %s: %w: install the token vendor's PKCS#11 library "+
			"(for SoftHSM2, Debian's softhsm2 puts it at /usr/lib/softhsm/libsofthsm2.so) or fix the path", path, err)
	}
	key, err = filepath.EvalSymlinks(path)
	if err != nil {
		return nil, "", fmt.Errorf("pkcs11.module_path %s: %w", path, err)
	}
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.m[key]; ok {
		m.refs++
		return m.ctx, key, nil
	}
	ctx = p11.New(key)
	if ctx == nil {
		return nil, "", fmt.Errorf("pkcs11.module_path %s: not a loadable PKCS#11 library (dlopen failed or it has no C_GetFunctionList): "+
			"point it at the vendor's .so for this machine's architecture", path)
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, "", fmt.Errorf("pkcs11.module_path %s: C_Initialize failed: %w (for SoftHSM2: is SOFTHSM2_CONF's tokendir readable?)", path, err)
	}
	modules.m[key] = &module{ctx: ctx, refs: 1}
	return ctx, key, nil
}

func unloadModule(key string) {
	modules.Lock()
	defer modules.Unlock()
	m, ok := modules.m[key]
	if !ok {
		return
	}
	if m.refs--; m.refs > 0 {
		return
	}
	delete(modules.m, key)
	_ = m.ctx.Finalize()
	m.ctx.Destroy()
}

// isCode reports whether err is the PKCS#11 return value code.
func isCode(err error, codes ...uint) bool {
	var e p11.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if uint(e) == c {
			return true
		}
	}
	return false
}

// tokenGone reports errors after which the session is unusable: the token was removed,
// the library lost it, or the session was closed under us.
func tokenGone(err error) bool {
	return isCode(err, p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_DEVICE_REMOVED,
		p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_DEVICE_ERROR, p11.CKR_SLOT_ID_INVALID, p11.CKR_CRYPTOKI_NOT_INITIALIZED,
		p11.CKR_TOKEN_NOT_RECOGNIZED)
}
