package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// X509State returns this server's X.509 authorities.
func (c *CA) X509State() Authorities {
	c.mu.Lock()
	defer c.mu.Unlock()
	return statesOf(slotsOf(c.journal.X509))
}

// JWTState returns this server's JWT authorities.
func (c *CA) JWTState() Authorities {
	c.mu.Lock()
	defer c.mu.Unlock()
	return statesOf(slotsOf(c.journal.JWT))
}

// PrepareX509 creates a new X.509 authority now and publishes it in the bundle without
// signing with it yet; it replaces a prepared one that was never activated.
func (c *CA) PrepareX509(ctx context.Context) (*Authority, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.newX509Slot(ctx, c.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	if err := prepareLocked(ctx, c, &c.journal.X509, s); err != nil {
		return nil, err
	}
	c.cfg.Log.Info("X.509 CA prepared by an operator", "authority_id", s.authority().ID)
	return s.authority(), nil
}

// PrepareJWT creates a new JWT key now, like PrepareX509.
func (c *CA) PrepareJWT(ctx context.Context) (*Authority, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.newJWTSlot(ctx, c.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	if err := prepareLocked(ctx, c, &c.journal.JWT, s); err != nil {
		return nil, err
	}
	c.cfg.Log.Info("JWT key prepared by an operator", "authority_id", s.Kid)
	return s.authority(), nil
}

// prepareLocked puts the new slot s in *slots in place of a prepared one and commits; when
// that fails, s's key is retired with nothing left naming it.
func prepareLocked[S slot](ctx context.Context, c *CA, slots *[]S, s S) error {
	err := c.changeLocked(ctx, func() error {
		for _, p := range *slots {
			if *p.status() == prepared {
				*slots = dropSlot(*slots, p.keyID(), &c.retired)
				break
			}
		}
		*slots = append(*slots, s)
		return nil
	})
	if err != nil {
		c.retired = append(c.retired, s.keyID())
	}
	return err
}

// ActivateX509 makes the prepared X.509 authority with this ID the active one (new SVIDs
// are signed by it from now on) and the active one old.
func (c *CA) ActivateX509(ctx context.Context, id string) (*Authority, error) {
	return c.activate(ctx, func() []slot { return slotsOf(c.journal.X509) }, "x509", id)
}

// ActivateJWT does the same for the prepared JWT key with this ID.
func (c *CA) ActivateJWT(ctx context.Context, id string) (*Authority, error) {
	return c.activate(ctx, func() []slot { return slotsOf(c.journal.JWT) }, "jwt", id)
}

func (c *CA) activate(ctx context.Context, slotsFn func() []slot, kind, id string) (*Authority, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := slotsFn()
	s, err := findSlot(slots, kind, "activated", id, prepared)
	if err != nil {
		return nil, err
	}
	err = c.changeLocked(ctx, func() error {
		for _, o := range slots {
			if *o.status() == active {
				*o.status() = old
			}
		}
		*s.status() = active
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.cfg.Log.Info("authority activated by an operator", "kind", kind, "authority_id", id)
	return s.authority(), nil
}

// TaintX509 marks the old X.509 authority with this ID tainted in the bundle: relying
// parties still trust it, but agents replace every SVID it signed at once.
func (c *CA) TaintX509(ctx context.Context, id string) (*Authority, error) {
	if c.cfg.Upstream != nil {
		return nil, fmt.Errorf("this server's CAs are signed by an upstream authority and are not in the bundle: use `upstreamauthority taint -subjectKeyID` instead: %w", ErrUpstreamSetup)
	}
	return c.taint(ctx, func() []slot { return slotsOf(c.journal.X509) }, "x509", id, func(s slot) error {
		_, err := c.cfg.Store.TaintX509Authority(ctx, c.cfg.TrustDomain.Name(), s.(*x509Slot).cert.SubjectKeyId)
		return err
	})
}

// TaintJWT marks the old JWT key with this ID tainted in the bundle.
func (c *CA) TaintJWT(ctx context.Context, id string) (*Authority, error) {
	return c.taint(ctx, func() []slot { return slotsOf(c.journal.JWT) }, "jwt", id, func(s slot) error {
		_, err := c.cfg.Store.TaintJWTKey(ctx, c.cfg.TrustDomain.Name(), id)
		return err
	})
}

func (c *CA) taint(ctx context.Context, slotsFn func() []slot, kind, id string, mark func(slot) error) (*Authority, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := slotsFn()
	s, err := findSlot(slots, kind, "tainted", id, old)
	if err != nil {
		return nil, err
	}
	if err := mark(s); err != nil {
		return nil, err
	}
	c.cfg.Log.Warn("authority tainted by an operator: agents replace what it signed", "kind", kind, "authority_id", id)
	return s.authority(), nil
}

// RevokeX509 removes the tainted old X.509 authority with this ID from the bundle and
// from this server, and deletes its key.
func (c *CA) RevokeX509(ctx context.Context, id string) (*Authority, error) {
	if c.cfg.Upstream != nil {
		return nil, fmt.Errorf("this server's CAs are signed by an upstream authority and are not in the bundle: use `upstreamauthority revoke -subjectKeyID` instead: %w", ErrUpstreamSetup)
	}
	return c.revoke(ctx, func() []slot { return slotsOf(c.journal.X509) }, "x509", id, func(s slot) error {
		ski := s.(*x509Slot).cert.SubjectKeyId
		b, err := c.cfg.Store.GetBundle(ctx, c.cfg.TrustDomain.Name())
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(b.X509Authorities, func(a datastore.X509Authority) bool { return a.Tainted && certHasSKI(a.DER, ski) }) {
			return notTainted("x509", id)
		}
		c.journal.X509 = dropSlot(c.journal.X509, s.keyID(), &c.retired)
		return nil
	}, func() error {
		_, err := c.cfg.Store.RevokeX509Authority(ctx, c.cfg.TrustDomain.Name(), slotSKI(id))
		return err
	})
}

// RevokeJWT removes the tainted old JWT key with this ID from the bundle and from this
// server, and deletes its key.
func (c *CA) RevokeJWT(ctx context.Context, id string) (*Authority, error) {
	return c.revoke(ctx, func() []slot { return slotsOf(c.journal.JWT) }, "jwt", id, func(s slot) error {
		b, err := c.cfg.Store.GetBundle(ctx, c.cfg.TrustDomain.Name())
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(b.JWTAuthorities, func(k datastore.JWTKey) bool { return k.Tainted && k.KeyID == id }) {
			return notTainted("jwt", id)
		}
		c.journal.JWT = dropSlot(c.journal.JWT, s.keyID(), &c.retired)
		return nil
	}, func() error {
		_, err := c.cfg.Store.RevokeJWTKey(ctx, c.cfg.TrustDomain.Name(), id)
		return err
	})
}

// revoke drops the slot from the journal and saves it before removing the authority from
// the bundle, so that no later publish brings it back; then the key goes.
func (c *CA) revoke(ctx context.Context, slotsFn func() []slot, kind, id string, drop func(slot) error, remove func() error) (*Authority, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := slotsFn()
	s, err := findSlot(slots, kind, "revoked", id, old)
	if err != nil {
		return nil, err
	}
	if err := c.changeLocked(ctx, func() error { return drop(s) }); err != nil {
		return nil, err
	}
	if err := remove(); err != nil {
		return nil, err
	}
	c.deleteRetiredKeys(ctx)
	c.cfg.Log.Warn("authority revoked by an operator: it left the bundle", "kind", kind, "authority_id", id)
	return s.authority(), nil
}

// changeLocked applies change to the journal and commits it; when either fails the
// journal is left as it was (the saved one still names its slots and keys).
func (c *CA) changeLocked(ctx context.Context, change func() error) error {
	x509Slots, jwtSlots, witSlots, retired := slices.Clone(c.journal.X509), slices.Clone(c.journal.JWT), slices.Clone(c.journal.WIT), slices.Clone(c.retired)
	statuses := map[*slotStatus]slotStatus{}
	for _, s := range slices.Concat(slotsOf(x509Slots), slotsOf(jwtSlots), slotsOf(witSlots)) {
		statuses[s.status()] = *s.status()
	}
	err := change()
	if err == nil {
		err = c.commitLocked(ctx)
	}
	if err != nil {
		c.journal.X509, c.journal.JWT, c.journal.WIT, c.retired = x509Slots, jwtSlots, witSlots, retired
		for p, st := range statuses {
			*p = st
		}
	}
	return err
}

func certHasSKI(der, ski []byte) bool {
	c, err := x509.ParseCertificate(der)
	return err == nil && bytes.Equal(c.SubjectKeyId, ski)
}

func notTainted(kind, id string) error {
	return fmt.Errorf("authority %s is not tainted: run `localauthority %s taint -authorityID %s` first, so that agents move off it before it stops being trusted: %w",
		id, kind, id, datastore.ErrConflict)
}

func slotSKI(id string) []byte {
	b, _ := hex.DecodeString(id) // IDs come from hex.EncodeToString
	return b
}
