package tpmtest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

// CA is a test certificate authority: a TPM manufacturer's or an operator's DevID CA.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a self-signed CA named cn, valid for a day.
func NewCA(t testing.TB, cn string) CA {
	c, k := testca.New(t, cn, nil, nil, time.Now().Add(24*time.Hour))
	return CA{Cert: c, Key: k}
}

// WritePEM writes the CA certificate to dir/name, as devid_ca_path and
// endorsement_ca_path read it, and returns the path.
func (ca CA) WritePEM(t testing.TB, dir, name string) string {
	return writePEM(t, filepath.Join(dir, name), ca.Cert)
}

// Issue signs a certificate for pub named cn, valid from an hour ago until notAfter.
func (ca CA) Issue(t testing.TB, cn string, pub crypto.PublicKey, notAfter time.Time) *x509.Certificate {
	t.Helper()
	return ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature}, pub, notAfter)
}

func (ca CA) issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, notAfter time.Time) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = serial, time.Now().Add(-time.Hour), notAfter
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ProvisionEK makes the TPM's default RSA EK and stores a certificate for it from ca at
// the EK certificate NV index, as a TPM vendor does. It returns the certificate.
func (tp *TPM) ProvisionEK(t testing.TB, ca CA) *x509.Certificate {
	t.Helper()
	rw := tp.Open(t)
	h, pub, err := tpm2.CreatePrimary(rw, tpm2.HandleEndorsement, tpm2.PCRSelection{}, "", "", tpmdevid.EKTemplateRSA())
	if err != nil {
		t.Fatalf("tpmtest: creating EK: %v", err)
	}
	_ = tpm2.FlushContext(rw, h)
	cert := ca.issue(t, ekTemplate(t), pub, time.Now().Add(24*time.Hour))
	der := cert.Raw
	attrs := tpm2.AttrOwnerWrite | tpm2.AttrOwnerRead | tpm2.AttrAuthRead | tpm2.AttrNoDA
	if err := tpm2.NVDefineSpace(rw, tpm2.HandleOwner, tpmdevid.EKCertIndex, "", "", nil, attrs, uint16(len(der))); err != nil {
		t.Fatalf("tpmtest: defining the EK certificate NV index: %v", err)
	}
	for off := 0; off < len(der); off += 512 {
		end := min(off+512, len(der))
		if err := tpm2.NVWrite(rw, tpm2.HandleOwner, tpmdevid.EKCertIndex, "", der[off:end], uint16(off)); err != nil {
			t.Fatalf("tpmtest: writing the EK certificate: %v", err)
		}
	}
	return cert
}

// ekTemplate is shaped like a vendor's EK certificate (TCG EK Credential Profile): an
// empty subject, and the TPM's manufacturer, model and version in a critical
// subjectAltName directoryName, which crypto/x509 leaves unhandled.
func ekTemplate(t testing.TB) *x509.Certificate {
	t.Helper()
	attr := func(oid asn1.ObjectIdentifier, v string) []pkix.AttributeTypeAndValue {
		return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
	}
	rdns := pkix.RDNSequence{
		attr(asn1.ObjectIdentifier{2, 23, 133, 2, 1}, "id:53575450"), // "SWTP"
		attr(asn1.ObjectIdentifier{2, 23, 133, 2, 2}, "swtpm"),
		attr(asn1.ObjectIdentifier{2, 23, 133, 2, 3}, "id:20191023"),
	}
	dirName, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dirName}})
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{KeyUsage: x509.KeyUsageKeyEncipherment,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: true, Value: san}}}
}

// DevIDOptions shape a DevID key. Zero values make an RSA 2048 RSASSA-SHA256 key
// without password.
type DevIDOptions struct {
	// ECC makes a NIST P-256 key instead.
	ECC bool
	// NoScheme leaves the key's signing scheme null, as tpm2_create does by default
	// (SPIRE's agent cannot load such keys; Lanyard's signs with SHA-256).
	NoScheme bool
	// Password is the key's authorization value (the agent's devid_password).
	Password string
	// Attributes replace the default fixedTPM|fixedParent|sensitiveDataOrigin|
	// userWithAuth|sign, to provision keys the server must refuse.
	Attributes tpm2.KeyProp
}

// DevID is a DevID key and its certificate, as the files the agent's configuration
// names (devid_cert_path, devid_priv_path, devid_pub_path).
type DevID struct {
	CertPath, PrivPath, PubPath string
	Cert                        *x509.Certificate
}

// CreateDevIDKey creates a DevID key under the owner hierarchy's default storage key,
// as tpm2_createprimary -C o; tpm2_create does, and returns its public and private
// blobs (TPM2_Create's output, as SPIRE reads them) and its public key.
func (tp *TPM) CreateDevIDKey(t testing.TB, opts DevIDOptions) (pub, priv []byte, key crypto.PublicKey) {
	t.Helper()
	rw := tp.Open(t)
	alg := tpm2.AlgRSA
	tmpl := tpm2.Public{Type: tpm2.AlgRSA, NameAlg: tpm2.AlgSHA256,
		Attributes:    tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin | tpm2.FlagUserWithAuth | tpm2.FlagSign,
		RSAParameters: &tpm2.RSAParams{Sign: &tpm2.SigScheme{Alg: tpm2.AlgRSASSA, Hash: tpm2.AlgSHA256}, KeyBits: 2048}}
	if opts.ECC {
		alg = tpm2.AlgECC
		tmpl.Type, tmpl.RSAParameters = tpm2.AlgECC, nil
		tmpl.ECCParameters = &tpm2.ECCParams{Sign: &tpm2.SigScheme{Alg: tpm2.AlgECDSA, Hash: tpm2.AlgSHA256}, CurveID: tpm2.CurveNISTP256}
	}
	if opts.NoScheme {
		if opts.ECC {
			tmpl.ECCParameters.Sign = nil
		} else {
			tmpl.RSAParameters.Sign = nil
		}
	}
	if opts.Attributes != 0 {
		tmpl.Attributes = opts.Attributes
	}
	srk, _, err := tpm2.CreatePrimary(rw, tpm2.HandleOwner, tpm2.PCRSelection{}, "", "", tpmdevid.SRKTemplate(alg))
	if err != nil {
		t.Fatalf("tpmtest: creating the storage root key: %v", err)
	}
	defer func() { _ = tpm2.FlushContext(rw, srk) }()
	priv, pub, _, _, _, err = tpm2.CreateKey(rw, srk, tpm2.PCRSelection{}, "", opts.Password, tmpl)
	if err != nil {
		t.Fatalf("tpmtest: creating the DevID key: %v", err)
	}
	p, err := tpm2.DecodePublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	if key, err = p.Key(); err != nil {
		t.Fatal(err)
	}
	return pub, priv, key
}

// ProvisionDevID creates a DevID key and a certificate for it from ca, valid until
// notAfter, and writes the three files into dir.
func (tp *TPM) ProvisionDevID(t testing.TB, dir string, ca CA, notAfter time.Time, opts DevIDOptions) DevID {
	t.Helper()
	pub, priv, key := tp.CreateDevIDKey(t, opts)
	cert := ca.Issue(t, "node-1.example.org", key, notAfter)
	d := DevID{PubPath: filepath.Join(dir, "devid.pub.blob"), PrivPath: filepath.Join(dir, "devid.priv.blob"), Cert: cert}
	d.CertPath = writePEM(t, filepath.Join(dir, "devid.crt.pem"), cert)
	for path, b := range map[string][]byte{d.PubPath: pub, d.PrivPath: priv} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// SetHierarchyPassword sets the owner or endorsement hierarchy's password (handle
// tpm2.HandleOwner or tpm2.HandleEndorsement), which was empty.
func (tp *TPM) SetHierarchyPassword(t testing.TB, hierarchy tpmutil.Handle, password string) {
	t.Helper()
	rw := tp.Open(t)
	if err := tpm2.HierarchyChangeAuth(rw, hierarchy, tpm2.AuthCommand{Session: tpm2.HandlePasswordSession, Attributes: tpm2.AttrContinueSession}, password); err != nil {
		t.Fatalf("tpmtest: setting hierarchy password: %v", err)
	}
}

func writePEM(t testing.TB, path string, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
