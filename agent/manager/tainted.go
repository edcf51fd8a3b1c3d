package manager

import (
	"crypto/x509"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// replaceTainted re-mints at once every X.509-SVID whose chain a tainted authority of the
// bundle signed, and forgets JWT-SVIDs signed by a tainted key: an operator taints an
// authority to move everybody off it (forced rotation), so waiting for half-life would
// defeat the purpose. Tainted authorities stay trusted until they are revoked.
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
	if len(tainted) == 0 {
		return
	}
	if m.cfg.OnTainted != nil {
		m.cfg.OnTainted(tainted)
	}
	var stale []*cache.Entry
	m.mu.Lock()
	for id, s := range m.minted {
		for _, k := range s.signers {
			if tainted[k] {
				if e, ok := m.entries[id]; ok {
					stale = append(stale, e)
					delete(m.minted, id) // re-added when the new SVID arrives
				}
				break
			}
		}
	}
	m.mu.Unlock()
	if len(stale) > 0 {
		m.cfg.Log.Info("re-minting SVIDs signed by a tainted authority", "count", len(stale))
		m.minter.enqueue(stale...)
	}
}
