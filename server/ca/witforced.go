package ca

import (
	"context"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// WITState returns this server's WIT authorities.
func (c *CA) WITState() Authorities {
	c.mu.Lock()
	defer c.mu.Unlock()
	return statesOf(slotsOf(c.journal.WIT))
}

// PrepareWIT creates a new WIT key now, like PrepareJWT.
func (c *CA) PrepareWIT(ctx context.Context) (*Authority, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.newWITSlot(ctx, c.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	if err := prepareLocked(ctx, c, &c.journal.WIT, s); err != nil {
		return nil, err
	}
	c.cfg.Log.Info("WIT key prepared by an operator", "authority_id", s.Kid)
	return s.authority(), nil
}

// ActivateWIT makes the prepared WIT key with this ID the one that signs WIT-SVIDs.
func (c *CA) ActivateWIT(ctx context.Context, id string) (*Authority, error) {
	return c.activate(ctx, func() []slot { return slotsOf(c.journal.WIT) }, "wit", id)
}

// TaintWIT marks the old WIT key with this ID tainted in the bundle: agents replace the
// WIT-SVIDs it signed at once.
func (c *CA) TaintWIT(ctx context.Context, id string) (*Authority, error) {
	return c.taint(ctx, func() []slot { return slotsOf(c.journal.WIT) }, "wit", id, func(slot) error {
		_, err := c.cfg.Store.TaintWITKey(ctx, c.cfg.TrustDomain.Name(), id)
		return err
	})
}

// RevokeWIT removes the tainted old WIT key with this ID from the bundle and from this
// server, and deletes its key.
func (c *CA) RevokeWIT(ctx context.Context, id string) (*Authority, error) {
	return c.revoke(ctx, func() []slot { return slotsOf(c.journal.WIT) }, "wit", id, func(s slot) error {
		b, err := c.cfg.Store.GetBundle(ctx, c.cfg.TrustDomain.Name())
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(b.WITAuthorities, func(k datastore.JWTKey) bool { return k.Tainted && k.KeyID == id }) {
			return notTainted("wit", id)
		}
		c.journal.WIT = dropSlot(c.journal.WIT, s.keyID(), &c.retired)
		return nil
	}, func() error {
		_, err := c.cfg.Store.RevokeWITKey(ctx, c.cfg.TrustDomain.Name(), id)
		return err
	})
}
