//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// signer is a key on the token as a crypto.Signer: ECDSA (ASN.1 DER signatures, as
// crypto/ecdsa gives) and RSA PKCS#1 v1.5 or PSS.
type signer struct {
	k     *KeyManager
	label string
	pub   crypto.PublicKey

	mu     sync.Mutex
	handle p11.ObjectHandle // found again by label when the token forgot it
}

func (s *signer) Public() crypto.PublicKey { return s.pub }

// Sign signs digest (the hash opts names) on the token.
func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if h := opts.HashFunc(); h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	mech, data, err := s.mechanism(digest, opts)
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.k.do(func(sh p11.SessionHandle) error {
		s.mu.Lock()
		h := s.handle
		s.mu.Unlock()
		sig, err = s.signWith(sh, h, mech, data)
		if !isCode(err, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID) {
			return err
		}
		// Private objects vanish from view when the user is logged out (all sessions closed).
		if lerr := s.k.login(sh); lerr != nil {
			return lerr
		}
		objs, ferr := s.k.find(sh, s.label, p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY))
		if ferr != nil || len(objs) != 1 {
			return fmt.Errorf("the key labelled %q is gone from the token (destroyed?): %w", s.label, err)
		}
		s.mu.Lock()
		s.handle = objs[0]
		s.mu.Unlock()
		sig, err = s.signWith(sh, objs[0], mech, data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: signing with %q on %s: %w", s.label, s.k.cfg.tokenName(), err)
	}
	if _, ok := s.pub.(*ecdsa.PublicKey); ok {
		return ecdsaDER(sig)
	}
	return sig, nil
}

func (s *signer) signWith(sh p11.SessionHandle, h p11.ObjectHandle, mech *p11.Mechanism, data []byte) ([]byte, error) {
	if err := s.k.ctx.SignInit(sh, []*p11.Mechanism{mech}, h); err != nil {
		return nil, err
	}
	return s.k.ctx.Sign(sh, data)
}

// Hashes the CA and JWT code sign with, and their PKCS#11 names.
var hashes = map[crypto.Hash]struct {
	oid  asn1.ObjectIdentifier // in the DigestInfo of PKCS#1 v1.5 (RFC 8017, 9.2)
	mech uint                  // CKM_ for PSS
	mgf  uint                  // CKG_MGF1_ for PSS
}{
	crypto.SHA256: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, p11.CKM_SHA256, p11.CKG_MGF1_SHA256},
	crypto.SHA384: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, p11.CKM_SHA384, p11.CKG_MGF1_SHA384},
	crypto.SHA512: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, p11.CKM_SHA512, p11.CKG_MGF1_SHA512},
}

// mechanism picks the PKCS#11 mechanism and the bytes it signs.
func (s *signer) mechanism(digest []byte, opts crypto.SignerOpts) (*p11.Mechanism, []byte, error) {
	switch s.pub.(type) {
	case *ecdsa.PublicKey:
		return p11.NewMechanism(p11.CKM_ECDSA, nil), digest, nil
	case *rsa.PublicKey:
		h, ok := hashes[opts.HashFunc()]
		if !ok {
			return nil, nil, fmt.Errorf("pkcs11: RSA signatures over %v are not supported (SHA-256, SHA-384, SHA-512 are)", opts.HashFunc())
		}
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			salt := pss.SaltLength
			if salt == rsa.PSSSaltLengthAuto || salt == rsa.PSSSaltLengthEqualsHash {
				salt = opts.HashFunc().Size() // any length verifies under Auto
			}
			return p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(h.mech, h.mgf, uint(salt))), digest, nil
		}
		info, err := asn1.Marshal(struct {
			Alg    pkix.AlgorithmIdentifier
			Digest []byte
		}{pkix.AlgorithmIdentifier{Algorithm: h.oid, Parameters: asn1.NullRawValue}, digest})
		if err != nil {
			return nil, nil, err
		}
		return p11.NewMechanism(p11.CKM_RSA_PKCS, nil), info, nil
	}
	return nil, nil, fmt.Errorf("pkcs11: key of type %T", s.pub)
}

// ecdsaDER turns PKCS#11's r||s into the ASN.1 form crypto.Signer callers expect.
func ecdsaDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, errors.New("pkcs11: the token returned a malformed ECDSA signature")
	}
	n := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])})
}
