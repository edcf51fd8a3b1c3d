package manager

import (
	"crypto/x509"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// replaceTainted tells the cache which X.509 authorities the bundle marks tainted (the
// SVIDs they signed are then due, see cache.SetTainted) and starts minting at once, and
// forgets JWT-SVIDs signed by a tainted key; WIT-SVIDs a tainted WIT key signed are due
// at once (cache.SetTaintedWIT).
func (m *Manager) replaceTainted(pb *types.Bundle) {
	tainted := map[string]bool{}
	for _, a := range pb.X509Authorities {
		if !a.Tainted {
			continue
		}
		if c, err := x509.ParseCertificate(a.Asn1); err == nil && len(c.SubjectKeyId) > 0 {
			tainted[string(c.SubjectKeyId)] = true
		}
	}
	kids := map[string]bool{}
	for _, k := range pb.JwtAuthorities {
		if k.Tainted {
			kids[k.KeyId] = true
		}
	}
	if len(kids) > 0 {
		if n := m.jwt.Forget(kids); n > 0 {
			m.cfg.Log.Info("dropped cached JWT-SVIDs signed by a tainted key", "count", n)
		}
	}
	witKids := map[string]bool{}
	for _, k := range pb.WitAuthorities {
		if k.Tainted {
			witKids[k.KeyId] = true
		}
	}
	m.cfg.Cache.SetTaintedWIT(witKids)
	if len(witKids) > 0 {
		m.minter.wake()
	}
	m.cfg.Cache.SetTainted(tainted)
	if len(tainted) == 0 {
		return
	}
	if m.cfg.OnTainted != nil {
		m.cfg.OnTainted(tainted)
	}
	m.minter.wake()
}
