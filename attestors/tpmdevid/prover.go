package tpmdevid

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
	"github.com/lanyard-dev/lanyard/internal/pemcert"
)

// DefaultDevicePaths are tried in order when tpm_device_path is not set: the kernel's
// resource manager first, which lets several users share the TPM.
var DefaultDevicePaths = []string{"/dev/tpmrm0", "/dev/tpm0"}

// ProverConfig is the agent's tpm_devid configuration, with SPIRE's names.
type ProverConfig struct {
	// DevicePath (tpm_device_path) is the TPM: a character device or the unix socket
	// of a software TPM. Default: the first of DefaultDevicePaths that exists.
	DevicePath string
	// DevIDCertPath (devid_cert_path) holds the DevID certificate, then any
	// intermediates, PEM. Required.
	DevIDCertPath string
	// DevIDPrivPath and DevIDPubPath (devid_priv_path, devid_pub_path) hold the DevID
	// key's blobs as TPM2_Create returned them (tpm2_create -r/-u). Required.
	DevIDPrivPath string
	DevIDPubPath  string
	// DevIDPassword, OwnerHierarchyPassword and EndorsementHierarchyPassword
	// (devid_password, ...) are the authorization values set at provisioning.
	DevIDPassword                string
	OwnerHierarchyPassword       string
	EndorsementHierarchyPassword string
}

// Prover is the agent half. Payload opens a TPM session that RespondChallenge uses and
// closes; a new Payload closes one left open by an attestation that failed in between.
type Prover struct {
	cfg ProverConfig

	mu   sync.Mutex
	sess *session
}

// NewProver checks the configuration; the files and the TPM are read at each attestation,
// so a renewed DevID certificate is picked up.
func NewProver(cfg ProverConfig) (*Prover, error) {
	for _, f := range []struct{ name, v string }{
		{"devid_cert_path", cfg.DevIDCertPath}, {"devid_priv_path", cfg.DevIDPrivPath}, {"devid_pub_path", cfg.DevIDPubPath},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("tpm_devid: %s is required", f.name)
		}
	}
	return &Prover{cfg: cfg}, nil
}

// Type implements attestors.NodeProver.
func (*Prover) Type() string { return Type }

// Payload implements attestors.NodeProver.
func (p *Prover) Payload(context.Context) ([]byte, error) {
	chain, err := readCertificates("devid_cert_path", p.cfg.DevIDCertPath)
	if err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(p.cfg.DevIDPubPath)
	if err != nil {
		return nil, fmt.Errorf("devid_pub_path: %w", err)
	}
	priv, err := os.ReadFile(p.cfg.DevIDPrivPath)
	if err != nil {
		return nil, fmt.Errorf("devid_priv_path: %w", err)
	}
	// A TPM has few object slots (swtpm: three): free the last attempt's first.
	p.Close()
	rw, err := p.open()
	if err != nil {
		return nil, err
	}
	s, err := openSession(rw, pub, priv, passwords{p.cfg.DevIDPassword, p.cfg.OwnerHierarchyPassword, p.cfg.EndorsementHierarchyPassword})
	if err != nil {
		return nil, err
	}
	out, err := s.payload(chain, p.cfg)
	if err != nil {
		s.close()
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess != nil {
		p.sess.close()
	}
	p.sess = s
	return out, nil
}

// Close frees the TPM objects of an attestation that ended before its challenge (the
// server refused the payload). The agent need not call it: the next Payload does.
func (p *Prover) Close() {
	p.mu.Lock()
	s := p.sess
	p.sess = nil
	p.mu.Unlock()
	if s != nil {
		s.close()
	}
}

func (s *session) payload(chain []*x509.Certificate, cfg ProverConfig) ([]byte, error) {
	key, err := s.devIDPub.Key()
	if err != nil {
		return nil, fmt.Errorf("devid_pub_path: %w", err)
	}
	if !publicKeysEqual(key, chain[0].PublicKey) {
		return nil, fmt.Errorf("devid_cert_path %s certifies another key than devid_pub_path %s: point both at the same DevID", cfg.DevIDCertPath, cfg.DevIDPubPath)
	}
	ekCert, err := s.ekCert()
	if err != nil {
		return nil, err
	}
	attest, sig, err := s.certify()
	if err != nil {
		return nil, err
	}
	pubArea, err := s.devIDPub.Encode()
	if err != nil {
		return nil, fmt.Errorf("devid_pub_path: %w", err)
	}
	pl := Payload{DevIDPub: pubArea, EKCert: ekCert, EKPub: s.ekPub, AKPub: s.akPub, CertifiedDevID: attest, CertificationSignature: sig}
	for _, c := range chain {
		pl.DevIDCert = append(pl.DevIDCert, c.Raw)
	}
	return json.Marshal(pl)
}

// RespondChallenge implements attestors.ChallengeResponder.
func (p *Prover) RespondChallenge(_ context.Context, challenge []byte) ([]byte, error) {
	p.mu.Lock()
	s := p.sess
	p.sess = nil
	p.mu.Unlock()
	if s == nil {
		return nil, errors.New("tpm_devid: challenge received with no attestation under way")
	}
	defer s.close()
	c, err := ParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	sig, err := s.sign(c.DevID)
	if err != nil {
		return nil, err
	}
	secret, err := s.activate(c.CredActivation)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Response{DevID: sig, CredActivation: secret})
}

func (p *Prover) open() (io.ReadWriteCloser, error) {
	path := p.cfg.DevicePath
	if path == "" {
		for _, d := range DefaultDevicePaths {
			if _, err := os.Stat(d); err == nil {
				path = d
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("tpm_device_path is not set and no TPM was found at %v: set tpm_device_path to the TPM device or a software TPM's socket", DefaultDevicePaths)
		}
	}
	rw, err := tpmutil.OpenTPM(path)
	if err != nil {
		return nil, fmt.Errorf("tpm_device_path %s: cannot open the TPM (%v): set tpm_device_path to the TPM device (e.g. /dev/tpmrm0) or a running software TPM's socket", path, err)
	}
	// A socket is only dialled at the first command: ask something harmless first, so
	// that a stopped software TPM is reported as such.
	if _, err := tpm2.GetRandom(rw, 1); err != nil {
		_ = rw.Close()
		return nil, fmt.Errorf("tpm_device_path %s: the TPM does not answer (%v): start it, or set tpm_device_path to a running TPM", path, err)
	}
	return rw, nil
}

func publicKeysEqual(a, b any) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func randomAuth() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	// Hex: the TPM drops trailing zero bytes of an auth value, hex has none.
	return hex.EncodeToString(b), nil
}

// readCertificates reads the PEM certificates of the file named by a setting; errors name
// the setting.
func readCertificates(field, path string) ([]*x509.Certificate, error) {
	certs, err := pemcert.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return certs, nil
}
