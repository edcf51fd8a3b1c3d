package k8s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// maxPodListSize bounds the kubelet's answer; a node's pod list is a few MiB at most.
const maxPodListSize = 64 << 20

// The kubelet's /pods answer, reduced to the fields selectors need. Decoding into
// these instead of k8s.io/api keeps client-go's type registry out of the agent.
type podList struct {
	Items []pod `json:"items"`
}

type pod struct {
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		UID             string            `json:"uid"`
		Labels          map[string]string `json:"labels"`
		OwnerReferences []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		NodeName           string `json:"nodeName"`
		ServiceAccountName string `json:"serviceAccountName"`
	} `json:"spec"`
	Status struct {
		ContainerStatuses          []containerStatus `json:"containerStatuses"`
		InitContainerStatuses      []containerStatus `json:"initContainerStatuses"`
		EphemeralContainerStatuses []containerStatus `json:"ephemeralContainerStatuses"`
	} `json:"status"`
}

type containerStatus struct {
	Name        string `json:"name"`
	Image       string `json:"image"`
	ImageID     string `json:"imageID"`
	ContainerID string `json:"containerID"` // "<runtime>://<id>"
}

// kubelet fetches the node's pod list.
type kubelet struct {
	url       string
	client    *http.Client
	tokenPath string // "" for no bearer token (read-only port, client certificates)
}

func newKubelet(cfg *Config) (*kubelet, error) {
	k := &kubelet{url: strings.TrimSuffix(cfg.KubeletURL, "/") + "/pods"}
	if k.url == "/pods" {
		host := cfg.KubeletHost
		if host == "" {
			host = cfg.NodeName
		}
		if host == "" {
			// Without a node name the agent must share the host network.
			host = "127.0.0.1"
		}
		if cfg.ReadOnlyPort > 0 {
			k.url = fmt.Sprintf("http://%s:%d/pods", host, cfg.ReadOnlyPort)
		} else {
			k.url = fmt.Sprintf("https://%s:%d/pods", host, cfg.SecurePort)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(k.url, "https://") {
		tlsCfg, err := kubeletTLS(cfg)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = tlsCfg
		if cfg.CertificatePath == "" {
			k.tokenPath = cfg.TokenPath
		}
	}
	k.client = &http.Client{Transport: transport, Timeout: 10 * time.Second}
	return k, nil
}

func kubeletTLS(cfg *Config) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.SkipKubeletVerification {
		t.InsecureSkipVerify = true
	} else {
		pem, err := os.ReadFile(cfg.KubeletCAPath)
		if err != nil {
			return nil, fmt.Errorf("kubelet CA (set kubelet_ca_path, or skip_kubelet_verification): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubelet CA %s holds no PEM certificate", cfg.KubeletCAPath)
		}
		t.RootCAs = pool
		t.ServerName = cfg.KubeletServerName
		if t.ServerName == "" && cfg.KubeletURL == "" && cfg.KubeletHost == "" && cfg.NodeName == "" {
			// On 127.0.0.1 the kubelet's certificate names the host, not the address.
			if h, err := os.Hostname(); err == nil {
				t.ServerName = h
			}
		}
	}
	if cfg.CertificatePath != "" {
		if _, err := tls.LoadX509KeyPair(cfg.CertificatePath, cfg.PrivateKeyPath); err != nil {
			return nil, fmt.Errorf("kubelet client certificate: %w", err)
		}
		// Reloaded per connection so a rotated certificate is picked up.
		t.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(cfg.CertificatePath, cfg.PrivateKeyPath)
			return &c, err
		}
	}
	return t, nil
}

// pods fetches the pod list. The token file is read on every call because the
// kubelet rotates projected tokens.
func (k *kubelet) pods(ctx context.Context) ([]pod, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	if k.tokenPath != "" {
		tok, err := os.ReadFile(k.tokenPath)
		if err != nil {
			return nil, fmt.Errorf("reading kubelet bearer token (set token_path): %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying kubelet: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("kubelet %s answered %s: %s", k.url, resp.Status, strings.TrimSpace(string(b)))
	}
	return decodePods(io.LimitReader(resp.Body, maxPodListSize))
}

// decodePods reads the kubelet's pod list.
func decodePods(r io.Reader) ([]pod, error) {
	var list podList
	if err := json.NewDecoder(r).Decode(&list); err != nil {
		return nil, fmt.Errorf("decoding kubelet pod list: %w", err)
	}
	return list.Items, nil
}
