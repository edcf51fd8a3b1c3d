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

	x, err := c.rotateX509(ctx, now)
	if err != nil {
		return err
	}
	j, err := c.rotateJWT(ctx, now)
	if err != nil {
		return err
	}
	changed = x || j
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

func (c *CA) rotateX509(ctx context.Context, now time.Time) (bool, error) {
	changed := false
	var act, prep *x509Slot
	kept := c.journal.X509[:0]
	for _, s := range c.journal.X509 {
		if !now.Before(s.notAfter()) {
			changed = true // expired: drop it
			c.retired = append(c.retired, s.KeyID)
			continue
		}
		switch s.Status {
		case active:
			act = s
		case prepared:
			prep = s
		}
		kept = append(kept, s)
	}
	c.journal.X509 = kept
	if act == nil {
		if prep == nil {
			s, err := c.newX509Slot(ctx, now)
			if err != nil {
				return false, err
			}
			c.journal.X509 = append(c.journal.X509, s)
			prep = s
		}
		prep.Status = active
		c.cfg.Log.Info("X.509 CA activated", "expires_at", prep.notAfter())
		return true, nil
	}
	life := act.notAfter().Sub(act.notBefore())
	if prep == nil && !now.Before(act.notBefore().Add(life/2)) {
		s, err := c.newX509Slot(ctx, now)
		if err != nil {
			return false, err
		}
		c.journal.X509 = append(c.journal.X509, s)
		prep, changed = s, true
		c.cfg.Log.Info("X.509 CA prepared", "expires_at", s.notAfter())
	}
	if prep != nil && !now.Before(act.notBefore().Add(life*5/6)) {
		act.Status, prep.Status, changed = old, active, true
		c.cfg.Log.Info("X.509 CA rotated", "expires_at", prep.notAfter())
	}
	return changed, nil
}

func (c *CA) rotateJWT(ctx context.Context, now time.Time) (bool, error) {
	changed := false
	var act, prep *jwtSlot
	kept := c.journal.JWT[:0]
	for _, s := range c.journal.JWT {
		if !now.Before(s.NotAfter) {
			changed = true
			c.retired = append(c.retired, s.KeyID)
			continue
		}
		switch s.Status {
		case active:
			act = s
		case prepared:
			prep = s
		}
		kept = append(kept, s)
	}
	c.journal.JWT = kept
	if act == nil {
		if prep == nil {
			s, err := c.newJWTSlot(ctx, now)
			if err != nil {
				return false, err
			}
			c.journal.JWT = append(c.journal.JWT, s)
			prep = s
		}
		prep.Status = active
		return true, nil
	}
	life := act.NotAfter.Sub(act.NotBefore)
	if prep == nil && !now.Before(act.NotBefore.Add(life/2)) {
		s, err := c.newJWTSlot(ctx, now)
		if err != nil {
			return false, err
		}
		c.journal.JWT = append(c.journal.JWT, s)
		prep, changed = s, true
	}
	if prep != nil && !now.Before(act.NotBefore.Add(life*5/6)) {
		act.Status, prep.Status, changed = old, active, true
		c.cfg.Log.Info("JWT key rotated", "kid", prep.Kid)
	}
	return changed, nil
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
	keyID := randomID("jwt-")
	key, err := c.cfg.KeyManager.GenerateKey(ctx, keyID, c.cfg.JWTKeyType)
	if err != nil {
		return nil, fmt.Errorf("generating JWT key: %w", err)
	}
	pub, err := publicKeyDER(key)
	if err != nil {
		return nil, err
	}
	return &jwtSlot{KeyID: keyID, Kid: randomID(""), PublicKey: pub, NotBefore: now, NotAfter: now.Add(c.cfg.JWTKeyTTL), Status: prepared, signer: key}, nil
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
	if _, err := c.cfg.Store.AppendBundle(ctx, b); err != nil {
		return fmt.Errorf("publishing CA to the bundle: %w", err)
	}
	return nil
}
