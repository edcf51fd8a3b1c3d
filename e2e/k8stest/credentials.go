package k8stest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// credentials are the files kube-apiserver is started with.
type credentials struct {
	caPEM                   []byte
	caFile                  string
	caCert                  *x509.Certificate
	caKey                   crypto.Signer
	servingCert, servingKey string
	saKey                   crypto.Signer
	saKeyFile, saPub        string
	adminToken, tokens      string
	nodeTokens              map[string]string
}

func writeCredentials(t testing.TB, dir string, extraTokens []string) credentials {
	t.Helper()
	fail := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("k8stest: credentials: %v", err)
		}
	}
	var c credentials

	// A CA of our own (rather than the apiserver's self-signed certificate) lets
	// clients verify the apiserver like they would in a real cluster.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "k8stest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	fail(err)
	caCert, err := x509.ParseCertificate(caDER)
	fail(err)
	c.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	c.caCert, c.caKey = caCert, caKey
	c.caFile = filepath.Join(dir, "ca.crt")
	fail(os.WriteFile(c.caFile, c.caPEM, 0o644))

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	srvDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}, caCert, srvKey.Public(), caKey)
	fail(err)
	c.servingCert = filepath.Join(dir, "apiserver.crt")
	c.servingKey = filepath.Join(dir, "apiserver.key")
	fail(writePEM(c.servingCert, "CERTIFICATE", srvDER))
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	fail(err)
	fail(writePEM(c.servingKey, "PRIVATE KEY", srvKeyDER))

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	fail(err)
	c.saKey = saKey
	c.saKeyFile = filepath.Join(dir, "sa.key")
	c.saPub = filepath.Join(dir, "sa.pub")
	fail(writePEM(c.saKeyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)))
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	fail(err)
	fail(writePEM(c.saPub, "PUBLIC KEY", pubDER))

	tok := make([]byte, 24)
	_, err = rand.Read(tok)
	fail(err)
	c.adminToken = hex.EncodeToString(tok)
	c.tokens = filepath.Join(dir, "tokens.csv")
	lines := c.adminToken + ",admin,admin,system:masters\n"
	c.nodeTokens = map[string]string{}
	for _, node := range NodeNames {
		_, err = rand.Read(tok)
		fail(err)
		c.nodeTokens[node] = hex.EncodeToString(tok)
		lines += c.nodeTokens[node] + ",system:node:" + node + "," + node + ",system:nodes\n"
	}
	for _, l := range extraTokens {
		lines += l + "\n"
	}
	fail(os.WriteFile(c.tokens, []byte(lines), 0o600))
	return c
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func writeKubeconfig(t testing.TB, dir string, c *Cluster) string {
	t.Helper()
	return c.WriteKubeconfig(t, filepath.Join(dir, "kubeconfig"), c.AdminToken)
}

// WriteKubeconfig writes a kubeconfig at path that reaches the cluster with a bearer
// token (one of Options.Tokens, for a component with an identity of its own).
func (c *Cluster) WriteKubeconfig(t testing.TB, path, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k8stest"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.CAPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["k8stest"] = &clientcmdapi.Context{Cluster: "k8stest", AuthInfo: "user"}
	cfg.CurrentContext = "k8stest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("k8stest: writing kubeconfig: %v", err)
	}
	return path
}
