//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sort"

	p11 "github.com/miekg/pkcs11"

	"github.com/lanyard-dev/lanyard/server/keymanager"
)

var _ keymanager.KeyManager = (*KeyManager)(nil)

// GenerateKey implements keymanager.KeyManager: a key pair is generated on the token as
// token objects (the private one sensitive, private and not extractable) labelled with
// the prefix and id. Objects that held id before are destroyed once the new pair exists.
func (k *KeyManager) GenerateKey(_ context.Context, id string, keyType keymanager.KeyType) (crypto.Signer, error) {
	if err := keymanager.ValidateID(id); err != nil {
		return nil, err
	}
	label := k.cfg.LabelPrefix + id
	mech, pubAttrs, err := keyTemplate(keyType)
	if err != nil {
		return nil, err
	}
	common := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_LABEL, label), p11.NewAttribute(p11.CKA_ID, []byte(label)),
	}
	pubTmpl := append(append([]*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_VERIFY, true), p11.NewAttribute(p11.CKA_PRIVATE, false)}, common...), pubAttrs...)
	privTmpl := append([]*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_SIGN, true), p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true), p11.NewAttribute(p11.CKA_EXTRACTABLE, false)}, common...)
	var sig *signer
	err = k.doLoggedIn(func(s p11.SessionHandle) error {
		old, err := k.find(s, label, nil)
		if err != nil {
			return err
		}
		pub, priv, err := k.ctx.GenerateKeyPair(s, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, pubTmpl, privTmpl)
		if err != nil {
			return err
		}
		pk, err := k.publicKey(s, pub)
		if err != nil {
			return err
		}
		for _, o := range old {
			if err := k.ctx.DestroyObject(s, o); err != nil {
				return fmt.Errorf("destroying the previous key: %w", err)
			}
		}
		sig = &signer{k: k, label: label, pub: pk, handle: priv}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: generating %s key %s on %s: %w", keyType, id, k.cfg.tokenName(), err)
	}
	k.keysMu.Lock()
	k.keys[id] = sig
	k.keysMu.Unlock()
	return sig, nil
}

// GetKey implements keymanager.KeyManager, finding the key on the token after a restart.
func (k *KeyManager) GetKey(_ context.Context, id string) (crypto.Signer, error) {
	if err := keymanager.ValidateID(id); err != nil {
		return nil, err
	}
	k.keysMu.Lock()
	sig, ok := k.keys[id]
	k.keysMu.Unlock()
	if ok {
		return sig, nil
	}
	label := k.cfg.LabelPrefix + id
	err := k.doLoggedIn(func(s p11.SessionHandle) error {
		priv, err := k.find(s, label, p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY))
		if err != nil {
			return err
		}
		pub, err := k.find(s, label, p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY))
		if err != nil {
			return err
		}
		switch {
		case len(priv) == 0:
			return fmt.Errorf("%w: %s (no private key object labelled %q on %s)", keymanager.ErrNotFound, id, label, k.cfg.tokenName())
		case len(priv) > 1 || len(pub) > 1:
			return fmt.Errorf("%d private and %d public key objects are labelled %q: destroy the extra ones", len(priv), len(pub), label)
		case len(pub) == 0:
			return fmt.Errorf("the private key object labelled %q has no public key object beside it: it was deleted by hand", label)
		}
		pk, err := k.publicKey(s, pub[0])
		if err != nil {
			return err
		}
		sig = &signer{k: k, label: label, pub: pk, handle: priv[0]}
		return nil
	})
	if errors.Is(err, keymanager.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("pkcs11: finding key %s on %s: %w", id, k.cfg.tokenName(), err)
	}
	k.keysMu.Lock()
	k.keys[id] = sig
	k.keysMu.Unlock()
	return sig, nil
}

// DeleteKey implements keymanager.KeyManager: it destroys the private and public key
// objects. Unlike the disk key manager, a crypto.Signer handed out before stops working.
func (k *KeyManager) DeleteKey(_ context.Context, id string) error {
	if err := keymanager.ValidateID(id); err != nil {
		return err
	}
	k.keysMu.Lock()
	delete(k.keys, id)
	k.keysMu.Unlock()
	label := k.cfg.LabelPrefix + id
	err := k.doLoggedIn(func(s p11.SessionHandle) error {
		objs, err := k.find(s, label, nil)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if err := k.ctx.DestroyObject(s, o); err != nil && !isCode(err, p11.CKR_OBJECT_HANDLE_INVALID) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pkcs11: destroying key %s on %s: %w", id, k.cfg.tokenName(), err)
	}
	return nil
}

// Labels lists the CKA_LABEL of every object on the token the user can see, this
// server's and others' (sorted): what an operator checks before and after a rotation.
func (k *KeyManager) Labels(context.Context) ([]string, error) {
	var labels []string
	err := k.doLoggedIn(func(s p11.SessionHandle) error {
		objs, err := k.findAll(s, nil)
		if err != nil {
			return err
		}
		for _, o := range objs {
			attrs, err := k.ctx.GetAttributeValue(s, o, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
			if isCode(err, p11.CKR_OBJECT_HANDLE_INVALID) {
				continue // destroyed since the search
			}
			if err != nil {
				return err
			}
			labels = append(labels, string(attrs[0].Value))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: listing the objects on %s: %w", k.cfg.tokenName(), err)
	}
	sort.Strings(labels)
	return labels, nil
}

// find returns the objects labelled label (of one class when class is not nil).
func (k *KeyManager) find(s p11.SessionHandle, label string, class *p11.Attribute) ([]p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_LABEL, label)}
	if class != nil {
		tmpl = append(tmpl, class)
	}
	return k.findAll(s, tmpl)
}

func (k *KeyManager) findAll(s p11.SessionHandle, tmpl []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := k.ctx.FindObjectsInit(s, tmpl); err != nil {
		return nil, err
	}
	var all []p11.ObjectHandle
	for {
		objs, _, err := k.ctx.FindObjects(s, 64)
		if err != nil {
			_ = k.ctx.FindObjectsFinal(s)
			return nil, err
		}
		if len(objs) == 0 {
			break
		}
		all = append(all, objs...)
	}
	return all, k.ctx.FindObjectsFinal(s)
}

// keyTemplate returns the key pair generation mechanism and the public key attributes
// that choose the curve or modulus size.
func keyTemplate(t keymanager.KeyType) (uint, []*p11.Attribute, error) {
	ecParams := func(oid asn1.ObjectIdentifier) []*p11.Attribute {
		der, _ := asn1.Marshal(oid)
		return []*p11.Attribute{p11.NewAttribute(p11.CKA_EC_PARAMS, der)}
	}
	rsaBits := func(bits int) []*p11.Attribute {
		return []*p11.Attribute{p11.NewAttribute(p11.CKA_MODULUS_BITS, bits), p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}
	}
	switch t {
	case keymanager.ECP256:
		return p11.CKM_EC_KEY_PAIR_GEN, ecParams(oidP256), nil
	case keymanager.ECP384:
		return p11.CKM_EC_KEY_PAIR_GEN, ecParams(oidP384), nil
	case keymanager.RSA2048:
		return p11.CKM_RSA_PKCS_KEY_PAIR_GEN, rsaBits(2048), nil
	case keymanager.RSA4096:
		return p11.CKM_RSA_PKCS_KEY_PAIR_GEN, rsaBits(4096), nil
	}
	return 0, nil, fmt.Errorf("pkcs11: unknown key type %q", t)
}

// publicKey reads a public key object back as a Go public key.
func (k *KeyManager) publicKey(s p11.SessionHandle, o p11.ObjectHandle) (crypto.PublicKey, error) {
	attrs, err := k.ctx.GetAttributeValue(s, o, []*p11.Attribute{p11.NewAttribute(p11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return nil, fmt.Errorf("reading the public key type: %w", err)
	}
	switch keyType := bytesToUint(attrs[0].Value); keyType {
	case p11.CKK_EC:
		attrs, err := k.ctx.GetAttributeValue(s, o, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_EC_PARAMS, nil), p11.NewAttribute(p11.CKA_EC_POINT, nil)})
		if err != nil {
			return nil, fmt.Errorf("reading the EC public key: %w", err)
		}
		return parseECPoint(attrs[0].Value, attrs[1].Value)
	case p11.CKK_RSA:
		attrs, err := k.ctx.GetAttributeValue(s, o, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_MODULUS, nil), p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			return nil, fmt.Errorf("reading the RSA public key: %w", err)
		}
		e := new(big.Int).SetBytes(attrs[1].Value)
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, errors.New("RSA public exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[0].Value), E: int(e.Int64())}, nil
	default:
		return nil, fmt.Errorf("public key of PKCS#11 key type %#x: only EC and RSA are used", keyType)
	}
}

// bytesToUint reads a CK_ULONG attribute (native byte order).
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}
