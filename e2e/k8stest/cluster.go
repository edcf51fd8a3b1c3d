package k8stest

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lanyard-dev/lanyard/internal/freeport"
)

// Issuer is the service account token issuer of every test cluster.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// Cluster is a running etcd + kube-apiserver pair owned by one test. No
// controller-manager, scheduler or kubelet runs: objects exist only as tests create them.
type Cluster struct {
	// URL is the apiserver's https address, e.g. https://127.0.0.1:34567.
	URL string
	// CAPEM is the PEM CA certificate that signed the apiserver's serving certificate.
	CAPEM []byte
	// AdminToken is a bearer token in group system:masters.
	AdminToken string
	// RESTConfig authenticates as the admin; copy it before changing it.
	RESTConfig *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Kubeconfig is a kubeconfig file on disk for the admin (for code that only takes
	// a path, such as attestor configuration).
	Kubeconfig string
	// SigningKey signs the cluster's service account tokens; tests use it to craft
	// tokens TokenRequest cannot produce (already expired ones).
	SigningKey crypto.Signer
	// Dir is the cluster's temporary folder (logs, credentials).
	Dir string
	// CAFile holds CAPEM; CACert and CAKey are that CA, for tests that issue
	// certificates the cluster's clients trust (a kubelet's serving certificate).
	CAFile string
	CACert *x509.Certificate
	CAKey  crypto.Signer
	// SigningKeyFile is SigningKey as a PEM file (for kube-controller-manager).
	SigningKeyFile string

	nodeTokens map[string]string // node name → bearer token of system:node:<name>
}

// Options adds to what Start configures.
type Options struct {
	// Tokens are extra lines of the apiserver's token file, "TOKEN,user,uid,group1,...".
	Tokens []string
	// APIServerArgs are appended to kube-apiserver's flags (a repeated flag wins).
	APIServerArgs []string
}

// Start runs etcd and kube-apiserver in t.TempDir() on free loopback ports and stops
// them in t.Cleanup. It skips t when the binaries are missing, unless the environment
// sets LANYARD_REQUIRE_K8S, in which case it fails. Start one cluster per top-level
// test and share it between subtests: each start costs several seconds.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with opts.
func StartWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := BinDir(t, "etcd", "kube-apiserver")
	dir := t.TempDir()

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(freeport.Loopback(t))
	peerURL := "http://127.0.0.1:" + strconv.Itoa(freeport.Loopback(t))
	etcd := startProcess(t, dir, "etcd", filepath.Join(bin, "etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd-data"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
	)
	waitReady(t, etcd, 30*time.Second, func() error {
		return httpOK(http.DefaultClient, etcdURL+"/health", "", "true")
	})

	files := writeCredentials(t, dir, opts.Tokens)
	port := freeport.Loopback(t)
	c := &Cluster{
		URL:        "https://127.0.0.1:" + strconv.Itoa(port),
		CAPEM:      files.caPEM,
		AdminToken: files.adminToken,
		SigningKey: files.saKey,
		nodeTokens: files.nodeTokens,
		Dir:        dir,
		CAFile:     files.caFile,
		CACert:     files.caCert,
		CAKey:      files.caKey,

		SigningKeyFile: files.saKeyFile,
	}
	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--tls-cert-file=" + files.servingCert,
		"--tls-private-key-file=" + files.servingKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=" + Issuer,
		"--service-account-key-file=" + files.saPub,
		"--service-account-signing-key-file=" + files.saKeyFile,
		"--api-audiences=" + Issuer,
		"--token-auth-file=" + files.tokens,
		// Nodes (system:node:<name>, see NodeClient) are limited as the kubelet is: the
		// Node authorizer and NodeRestriction admission.
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
	}
	api := startProcess(t, dir, "kube-apiserver", filepath.Join(bin, "kube-apiserver"), append(apiArgs, opts.APIServerArgs...)...)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM)
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(httpc.CloseIdleConnections)
	// Cold starts on a busy 2-core machine (tests run with -race in parallel packages)
	// have taken tens of seconds, hence the generous bound.
	waitReady(t, api, 120*time.Second, func() error {
		return httpOK(httpc, c.URL+"/readyz", c.AdminToken, "ok")
	})

	c.RESTConfig = &rest.Config{
		Host:            c.URL,
		BearerToken:     c.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM},
		QPS:             100,
		Burst:           200,
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatalf("k8stest: admin client: %v", err)
	}
	c.Client = client
	c.Kubeconfig = writeKubeconfig(t, dir, c)
	return c
}

// BinDir finds the folder holding the named programs (from e2e/k8s/install.sh), or
// skips t when one is missing, unless the environment sets LANYARD_REQUIRE_K8S, in
// which case it fails.
func BinDir(t testing.TB, names ...string) string {
	t.Helper()
	dir := os.Getenv("LANYARD_K8S_BIN")
	if dir == "" {
		cache := os.Getenv("LANYARD_CACHE")
		if cache == "" {
			cache = filepath.Join(repoRoot(), ".cache")
		}
		dir = filepath.Join(cache, "k8s", "bin")
	}
	var missing []string
	for _, name := range names {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return dir
	}
	msg := fmt.Sprintf("k8stest: %s not found in %s: run e2e/k8s/install.sh (or set LANYARD_K8S_BIN)", strings.Join(missing, " and "), dir)
	if os.Getenv("LANYARD_REQUIRE_K8S") == "" {
		t.Skip(msg + "; set LANYARD_REQUIRE_K8S=1 to fail instead of skipping")
	}
	t.Fatal(msg)
	return ""
}

// repoRoot walks up from the working directory (a package folder under go test) to
// the folder holding go.mod.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}

// httpOK succeeds when GET url answers 200 with a body containing want.
func httpOK(c *http.Client, url, token, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := make([]byte, 4096)
	n, _ := resp.Body.Read(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body[:n]), want) {
		return fmt.Errorf("%s answered %d: %.300s", url, resp.StatusCode, body[:n])
	}
	return nil
}

// process is a child program whose output goes to a log file kept for failure reports.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProcess(t testing.TB, dir, name, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("k8stest: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("k8stest: starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop asks for a clean shutdown and insists after 10 s.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitReady polls ready until it succeeds, the process exits, or timeout passes.
func waitReady(t testing.TB, p *process, timeout time.Duration, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("k8stest: %s not ready after %s: %v\n--- %s log tail ---\n%s", p.name, timeout, err, p.name, p.tail())
		}
		select {
		case <-p.done:
			t.Fatalf("k8stest: %s exited: %v\n--- %s log tail ---\n%s", p.name, p.err, p.name, p.tail())
		case <-tick.C:
		}
	}
}
