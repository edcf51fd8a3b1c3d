package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net/url"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/keymanager"
)

// backdate keeps fresh certificates valid on peers whose clocks lag a little.
const backdate = 10 * time.Second

// Rotate brings the slots up to date at Now(): a missing or expired active slot is
// replaced at once; at half of the active lifetime the next key is prepared (and
// published); at five sixths it becomes active and the previous one old; expired old
// slots are dropped. Calling it again without time passing changes nothing.
func (c *CA) Rotate(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Clock.Now()
	changed := false

	var x, j, w bool
	var err error
	c.journal.X509, x, err = rotateSlots(c, "X.509 CA", c.journal.X509, now, func() (*x509Slot, error) { return c.newX509Slot(ctx, now) })
	if err != nil {
		return err
	}
	c.journal.JWT, j, err = rotateSlots(c, "JWT key", c.journal.JWT, now, func() (*jwtSlot, error) { return c.newJWTSlot(ctx, now) })
	if err != nil {
		return err
	}
	c.journal.WIT, w, err = rotateSlots(c, "WIT key", c.journal.WIT, now, func() (*jwtSlot, error) { return c.newWITSlot(ctx, now) })
	if err != nil {
		return err
	}
	changed = x || j || w
	if changed || c.signing.Load() == nil {
		if err := c.commitLocked(ctx); err != nil {
			return err
		}
	}
	if _, err := c.cfg.Store.PruneBundle(ctx, c.cfg.TrustDomain.Name(), now); err != nil {
		return fmt.Errorf("pruning expired authorities: %w", err)
	}
	c.deleteRetiredKeys(ctx)
	return nil
}

// commitLocked publishes the slots' public material, saves the journal and signs with
// the active slots from now on. Public material goes first: nothing may sign before
// relying parties can trust it.
func (c *CA) commitLocked(ctx context.Context) error {
	if err := c.publish(ctx); err != nil {
		return err
	}
	data, err := c.journal.encode()
	if err != nil {
		return err
	}
	if err := c.cfg.Store.SetCAJournal(ctx, c.cfg.ServerID, data); err != nil {
		return fmt.Errorf("saving CA journal: %w", err)
	}
	st, err := c.newSigningState()
	if err != nil {
		return err
	}
	c.signing.Store(st)
	return nil
}

// deleteRetiredKeys destroys the keys of slots that expired and are gone from the saved
// journal and from the bundle: nothing can use or trust them any more. A key whose
// deletion fails is tried again at the next rotation.
func (c *CA) deleteRetiredKeys(ctx context.Context) {
	kept := c.retired[:0]
	for _, id := range c.retired {
		if err := c.cfg.KeyManager.DeleteKey(ctx, id); err != nil {
			c.cfg.Log.Warn("deleting a retired CA key failed; will retry", "key_id", id, "error", err)
			kept = append(kept, id)
			continue
		}
		c.cfg.Log.Info("retired CA key deleted", "key_id", id)
	}
	c.retired = kept
}

// rotateSlots applies Rotate's rule to one kind of slot (what names it in logs) and
// returns the slots to keep and whether anything changed; newSlot makes a slot whose key
// starts at now.
func rotateSlots[S slot](c *CA, what string, slots []S, now time.Time, newSlot func() (S, error)) ([]S, bool, error) {
	changed := false
	var act, prep S
	var hasAct, hasPrep bool
	kept := slots[:0]
	for _, s := range slots {
		if !now.Before(s.authority().ExpiresAt) {
			changed = true // expired: drop it
			c.retired = append(c.retired, s.keyID())
			continue
		}
		switch *s.status() {
		case active:
			act, hasAct = s, true
		case prepared:
			prep, hasPrep = s, true
		}
		kept = append(kept, s)
	}
	logged := func(msg string, s S) {
		a := s.authority()
		c.cfg.Log.Info(what+" "+msg, "authority_id", a.ID, "expires_at", a.ExpiresAt)
	}
	if !hasAct {
		if !hasPrep {
			s, err := newSlot()
			if err != nil {
				return kept, changed, err
			}
			kept, prep = append(kept, s), s
		}
		*prep.status() = active
		logged("activated", prep)
		return kept, true, nil
	}
	life := act.authority().ExpiresAt.Sub(act.started())
	if !hasPrep && !now.Before(act.started().Add(life/2)) {
		s, err := newSlot()
		if err != nil {
			return kept, changed, err
		}
		kept, prep, hasPrep, changed = append(kept, s), s, true, true
		logged("prepared", s)
	}
	if hasPrep && !now.Before(act.started().Add(life*5/6)) {
		*act.status(), *prep.status(), changed = old, active, true
		logged("rotated to", prep)
	}
	return kept, changed, nil
}

func (c *CA) newX509Slot(ctx context.Context, now time.Time) (*x509Slot, error) {
	keyID := randomID("x509-ca-")
	key, err := c.cfg.KeyManager.GenerateKey(ctx, keyID, c.cfg.X509KeyType)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tdURL, _ := url.Parse(c.cfg.TrustDomain.IDString())
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               c.cfg.Subject,
		URIs:                  []*url.URL{tdURL},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(c.cfg.CATTL),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	parent, parentKey := tmpl, crypto.Signer(key)
	var chain [][]byte
	if up := c.cfg.Upstream; up != nil {
		parent, parentKey, chain = up.Cert, up.Signer, up.chainDER()
		if tmpl.NotAfter.After(up.Cert.NotAfter) {
			// A CA cannot outlive the certificate that signed it; rotation then comes
			// early, and the operator must renew the upstream certificate.
			tmpl.NotAfter = up.Cert.NotAfter
			c.cfg.Log.Warn("upstream CA certificate expires before ca_ttl; renew it", "upstream_not_after", up.Cert.NotAfter)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &x509Slot{KeyID: keyID, CertDER: der, UpstreamDER: chain, Status: prepared, cert: cert, signer: key}, nil
}

func (c *CA) newJWTSlot(ctx context.Context, now time.Time) (*jwtSlot, error) {
	return c.newKeySlot(ctx, now, "jwt", c.cfg.JWTKeyType, c.cfg.JWTKeyTTL)
}

func (c *CA) newWITSlot(ctx context.Context, now time.Time) (*jwtSlot, error) {
	return c.newKeySlot(ctx, now, "wit", c.cfg.WITKeyType, c.cfg.WITKeyTTL)
}

// newKeySlot makes a JWT or WIT signing key (kind, also its key manager ID prefix). The
// kid is random, so it is unique among all keys of the bundle, as the WIT-SVID spec (6.1)
// requires across JWT and WIT authorities.
func (c *CA) newKeySlot(ctx context.Context, now time.Time, kind string, kt keymanager.KeyType, ttl time.Duration) (*jwtSlot, error) {
	keyID := randomID(kind + "-")
	key, err := c.cfg.KeyManager.GenerateKey(ctx, keyID, kt)
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", kind, err)
	}
	pub, err := publicKeyDER(key)
	if err != nil {
		return nil, err
	}
	return &jwtSlot{KeyID: keyID, Kid: randomID(""), PublicKey: pub, NotBefore: now, NotAfter: now.Add(ttl), Status: prepared, signer: key}, nil
}

// publish appends every live slot's public material to the trust bundle.
func (c *CA) publish(ctx context.Context) error {
	b := &datastore.Bundle{TrustDomain: c.cfg.TrustDomain.Name(), RefreshHint: int64(c.cfg.RefreshHint / time.Second)}
	if up := c.cfg.Upstream; up != nil {
		// Relying parties trust the operator's roots; our CAs travel in SVID chains.
		for _, r := range up.Roots {
			b.X509Authorities = append(b.X509Authorities, datastore.X509Authority{DER: r.Raw})
		}
	} else {
		for _, s := range c.journal.X509 {
			b.X509Authorities = append(b.X509Authorities, datastore.X509Authority{DER: s.CertDER})
		}
	}
	for _, s := range c.journal.JWT {
		b.JWTAuthorities = append(b.JWTAuthorities, datastore.JWTKey{KeyID: s.Kid, PublicKey: s.PublicKey, ExpiresAt: s.NotAfter.Unix()})
	}
	for _, s := range c.journal.WIT {
		b.WITAuthorities = append(b.WITAuthorities, datastore.JWTKey{KeyID: s.Kid, PublicKey: s.PublicKey, ExpiresAt: s.NotAfter.Unix()})
	}
	if _, err := c.cfg.Store.AppendBundle(ctx, b); err != nil {
		return fmt.Errorf("publishing CA to the bundle: %w", err)
	}
	return nil
}
