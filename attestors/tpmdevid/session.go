package tpmdevid

import (
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// session is one attestation's use of the TPM: the DevID key loaded, a fresh
// attestation key and the EK recreated. Not safe for concurrent use.
type session struct {
	rw       io.ReadWriteCloser
	passes   passwords
	devID    tpmutil.Handle
	devIDPub tpm2.Public
	ak       tpmutil.Handle
	akAuth   string
	akPub    []byte
	ek       tpmutil.Handle
	ekPub    []byte
}

type passwords struct{ devID, owner, endorsement string }

// openSession loads the DevID key from its blobs, makes an attestation key and
// recreates the EK. Errors name the configuration field to fix.
func openSession(rw io.ReadWriteCloser, pubBlob, privBlob []byte, pw passwords) (_ *session, err error) {
	s := &session{rw: rw, passes: pw}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	pubBlob, privBlob = unwrap2B(pubBlob), unwrap2B(privBlob)
	if s.devIDPub, err = tpm2.DecodePublic(pubBlob); err != nil {
		return nil, fmt.Errorf("devid_pub_path does not hold a TPM public area (tpm2_create -u output): %w", err)
	}
	if s.devIDPub.Attributes&tpm2.FlagSign == 0 {
		return nil, errors.New("devid_pub_path is not a signing key: create the DevID key with the sign attribute")
	}
	if err := s.loadKeys(pubBlob, privBlob); err != nil {
		return nil, err
	}
	// After loadKeys flushed the storage key: swtpm holds three objects at a time.
	s.ek, _, _, _, _, _, err = tpm2.CreatePrimaryEx(rw, tpm2.HandleEndorsement, tpm2.PCRSelection{}, pw.endorsement, "", EKTemplateRSA())
	if err != nil {
		return nil, authError(err, "endorsement_hierarchy_password", "recreating the endorsement key")
	}
	pub, _, _, err := tpm2.ReadPublic(rw, s.ek)
	if err != nil {
		return nil, fmt.Errorf("reading the endorsement key: %w", err)
	}
	if s.ekPub, err = pub.Encode(); err != nil {
		return nil, fmt.Errorf("encoding the endorsement key: %w", err)
	}
	return s, nil
}

// loadKeys loads the DevID key and creates and loads an attestation key, under storage
// keys it flushes before returning.
func (s *session) loadKeys(pubBlob, privBlob []byte) (err error) {
	srk, err := s.createSRK(s.devIDPub.Type)
	if err != nil {
		return err
	}
	defer func() { s.flush(srk) }()
	if s.devID, _, err = tpm2.Load(s.rw, srk, "", pubBlob, privBlob); err != nil {
		return fmt.Errorf("loading the DevID key (devid_pub_path, devid_priv_path) into the TPM: %w (were the blobs made on this TPM, under the TCG storage root key: tpm2_createprimary -C o -G rsa2048:null:aes128cfb -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt'?)", err)
	}
	if s.devIDPub.Type != tpm2.AlgRSA {
		// The attestation key is RSA, under the RSA storage key.
		s.flush(srk)
		if srk, err = s.createSRK(tpm2.AlgRSA); err != nil {
			return err
		}
	}
	if s.akAuth, err = randomAuth(); err != nil {
		return err
	}
	s.ak, s.akPub, err = s.createAK(srk)
	return err
}

func (s *session) createSRK(alg tpm2.Algorithm) (tpmutil.Handle, error) {
	h, _, _, _, _, _, err := tpm2.CreatePrimaryEx(s.rw, tpm2.HandleOwner, tpm2.PCRSelection{}, s.passes.owner, "", SRKTemplate(alg))
	if err != nil {
		return 0, authError(err, "owner_hierarchy_password", "creating the storage root key")
	}
	return h, nil
}

func (s *session) createAK(srk tpmutil.Handle) (tpmutil.Handle, []byte, error) {
	priv, pub, _, _, _, err := tpm2.CreateKey(s.rw, srk, tpm2.PCRSelection{}, "", s.akAuth, akTemplate())
	if err != nil {
		return 0, nil, fmt.Errorf("creating an attestation key: %w", err)
	}
	h, _, err := tpm2.Load(s.rw, srk, "", pub, priv)
	if err != nil {
		return 0, nil, fmt.Errorf("loading the attestation key: %w", err)
	}
	return h, pub, nil
}

// ekCert reads the EK certificate from its NV index, dropping the padding some TPMs
// keep after the DER.
func (s *session) ekCert() ([]byte, error) {
	b, err := tpm2.NVRead(s.rw, EKCertIndex)
	if err != nil {
		return nil, fmt.Errorf("reading the EK certificate from NV index %#x (provision one, e.g. with swtpm_setup --create-ek-cert or the TPM vendor's tool): %w", uint32(EKCertIndex), err)
	}
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("NV index %#x does not hold a DER certificate: %w", uint32(EKCertIndex), err)
	}
	return v.FullBytes, nil
}

// certify has the attestation key vouch that the DevID key lives in this TPM.
func (s *session) certify() (attest, sig []byte, err error) {
	attest, sig, err = tpm2.Certify(s.rw, s.passes.devID, s.akAuth, s.devID, s.ak, nil)
	if err != nil {
		return nil, nil, authError(err, "devid_password", "certifying the DevID key")
	}
	return attest, sig, nil
}

// sign signs the SHA-256 of nonce with the DevID key, encoded as crypto/x509 checks it.
func (s *session) sign(nonce []byte) ([]byte, error) {
	digest := sha256.Sum256(nonce)
	var scheme *tpm2.SigScheme
	switch s.devIDPub.Type {
	case tpm2.AlgRSA:
		if p := s.devIDPub.RSAParameters; p != nil && (p.Sign == nil || p.Sign.Alg.IsNull()) {
			scheme = &tpm2.SigScheme{Alg: tpm2.AlgRSASSA, Hash: tpm2.AlgSHA256}
		}
	case tpm2.AlgECC:
		if p := s.devIDPub.ECCParameters; p != nil && (p.Sign == nil || p.Sign.Alg.IsNull()) {
			scheme = &tpm2.SigScheme{Alg: tpm2.AlgECDSA, Hash: tpm2.AlgSHA256}
		}
	}
	sig, err := tpm2.Sign(s.rw, s.devID, s.passes.devID, digest[:], nil, scheme)
	if err != nil {
		return nil, authError(err, "devid_password", "signing the server's nonce with the DevID key")
	}
	switch {
	case sig.RSA != nil:
		return sig.RSA.Signature, nil
	case sig.ECC != nil:
		return asn1.Marshal(struct{ R, S *big.Int }{sig.ECC.R, sig.ECC.S})
	}
	return nil, errors.New("the TPM returned a signature that is neither RSA nor ECDSA")
}

// activate recovers the server's secret: only the TPM holding the EK can, and only for
// an attestation key it holds.
func (s *session) activate(c *CredActivation) ([]byte, error) {
	policy, _, err := tpm2.StartAuthSession(s.rw, tpm2.HandleNull, tpm2.HandleNull, make([]byte, 16), nil, tpm2.SessionPolicy, tpm2.AlgNull, tpm2.AlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("starting a policy session for the endorsement key: %w", err)
	}
	_, _, err = tpm2.PolicySecret(s.rw, tpm2.HandleEndorsement,
		tpm2.AuthCommand{Session: tpm2.HandlePasswordSession, Auth: []byte(s.passes.endorsement)}, policy, nil, nil, nil, 0)
	if err != nil {
		s.flush(policy)
		return nil, authError(err, "endorsement_hierarchy_password", "authorizing the endorsement key")
	}
	secret, err := tpm2.ActivateCredentialUsingAuth(s.rw, []tpm2.AuthCommand{
		{Session: tpm2.HandlePasswordSession, Auth: []byte(s.akAuth)},
		{Session: policy},
	}, s.ak, s.ek, c.Credential, c.Secret)
	if err != nil {
		s.flush(policy)
		return nil, fmt.Errorf("credential activation failed: this TPM's endorsement key cannot open the server's challenge (was the challenge made for another TPM's EK?): %w", err)
	}
	return secret, nil
}

func (s *session) flush(h tpmutil.Handle) {
	if h != 0 {
		_ = tpm2.FlushContext(s.rw, h)
	}
}

// close unloads what the session loaded and closes the TPM.
func (s *session) close() {
	s.flush(s.devID)
	s.flush(s.ak)
	s.flush(s.ek)
	// A socket TPM (swtpm) connects per command and errors on a close with none open.
	_ = s.rw.Close()
}

// authError turns the TPM's authorization failures into the field to fix.
func authError(err error, field, doing string) error {
	var se tpm2.SessionError
	if errors.As(err, &se) && (se.Code == tpm2.RCAuthFail || se.Code == tpm2.RCBadAuth) {
		return fmt.Errorf("%s: the TPM refused %s: set it to the password the TPM was provisioned with (%w)", doing, field, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
