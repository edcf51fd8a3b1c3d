package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
)

// TaintX509Upstream marks the upstream authority with this subject key ID (hex) tainted
// in the bundle, so that agents replace every SVID whose chain it signed. The upstream
// authority signing the active CA cannot be tainted: replace it first.
func (c *CA) TaintX509Upstream(ctx context.Context, subjectKeyID string) error {
	ski, err := c.upstreamTarget(subjectKeyID, "tainted")
	if err != nil {
		return err
	}
	if _, err := c.cfg.Store.TaintX509Authority(ctx, c.cfg.TrustDomain.Name(), ski); err != nil {
		return err
	}
	c.cfg.Log.Warn("upstream authority tainted by an operator: agents replace what it signed", "subject_key_id", subjectKeyID)
	return nil
}

// RevokeX509Upstream removes the tainted upstream authority with this subject key ID from
// the bundle.
func (c *CA) RevokeX509Upstream(ctx context.Context, subjectKeyID string) error {
	ski, err := c.upstreamTarget(subjectKeyID, "revoked")
	if err != nil {
		return err
	}
	if _, err := c.cfg.Store.RevokeX509Authority(ctx, c.cfg.TrustDomain.Name(), ski); err != nil {
		return err
	}
	c.cfg.Log.Warn("upstream authority revoked by an operator: it left the bundle", "subject_key_id", subjectKeyID)
	return nil
}

func (c *CA) upstreamTarget(subjectKeyID, verb string) ([]byte, error) {
	if c.cfg.Upstream == nil {
		return nil, fmt.Errorf("upstream authority is not configured: this server's own CAs are handled with `localauthority x509`: %w", ErrUpstreamSetup)
	}
	if subjectKeyID == "" {
		return nil, fmt.Errorf("no subject key ID given: pass -subjectKeyID (the upstream certificate's, in hex): %w", ErrAuthorityState)
	}
	ski, err := hex.DecodeString(subjectKeyID)
	if err != nil {
		return nil, fmt.Errorf("subject key ID %q is not hex: %w", subjectKeyID, ErrAuthorityState)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.journal.X509 {
		if s.Status == active && slices.ContainsFunc(signersOf(s), func(k []byte) bool { return bytes.Equal(k, ski) }) {
			return nil, fmt.Errorf("upstream authority %s signs the active CA and cannot be %s: configure a new upstream certificate, restart, then prepare and activate a CA it signs: %w",
				subjectKeyID, verb, ErrAuthorityState)
		}
	}
	return ski, nil
}

// signersOf lists the subject key IDs of the certificates above the slot's CA certificate.
func signersOf(s *x509Slot) [][]byte {
	out := [][]byte{s.cert.AuthorityKeyId}
	for _, der := range s.UpstreamDER {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c.SubjectKeyId, c.AuthorityKeyId)
		}
	}
	return out
}
