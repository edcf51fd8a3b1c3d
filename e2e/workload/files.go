package main

// Files-only mTLS, for pods whose identity is a Kubernetes pod certificate: the kubelet
// writes the credential bundle (private key, then the chain, leaf first) and the
// ClusterTrustBundle's CA certificates into a projected volume; no Workload API.
//
//	workload serve-files -svid F -bundle F -addr A -allow ID
//	workload dial-files  -svid F -bundle F -addr A -expect ID -message M
//
// serve-files prints "svid <ID> serial <hex>" for the certificate in the file when it
// starts and again whenever the kubelet has written a new one.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// fileSource is an x509svid.Source and x509bundle.Source read from the two files, as
// last loaded.
type fileSource struct {
	svidPath, bundlePath string

	mu     sync.RWMutex
	svid   *x509svid.SVID
	bundle *x509bundle.Bundle
	blocks []string // the PEM block types of the svid file, in order
}

// load reads both files; changed reports whether the certificate is a new one.
func (s *fileSource) load() (changed bool, err error) {
	raw, err := os.ReadFile(s.svidPath)
	if err != nil {
		return false, err
	}
	var keyPEM, certPEM bytes.Buffer
	var blocks []string
	for rest := raw; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b.Type)
		if b.Type == "CERTIFICATE" {
			_ = pem.Encode(&certPEM, b)
		} else {
			_ = pem.Encode(&keyPEM, b)
		}
	}
	svid, err := x509svid.Parse(certPEM.Bytes(), keyPEM.Bytes())
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.svidPath, err)
	}
	bundlePEM, err := os.ReadFile(s.bundlePath)
	if err != nil {
		return false, err
	}
	bundle, err := x509bundle.Parse(svid.ID.TrustDomain(), bundlePEM)
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.bundlePath, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.svid == nil || !bytes.Equal(s.svid.Certificates[0].Raw, svid.Certificates[0].Raw)
	s.svid, s.bundle, s.blocks = svid, bundle, blocks
	return changed, nil
}

func (s *fileSource) GetX509SVID() (*x509svid.SVID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.svid, nil
}

func (s *fileSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bundle.GetX509BundleForTrustDomain(td)
}

// print says which certificate is loaded and how the kubelet laid out its file.
func (s *fileSource) print() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fmt.Printf("svid %s serial %x\n", s.svid.ID, s.svid.Certificates[0].SerialNumber)
	fmt.Printf("blocks %s\n", strings.Join(s.blocks, ","))
}

func serveFiles(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-files", flag.ExitOnError)
	src := sourceFlags(fs)
	addr := fs.String("addr", "127.0.0.1:9443", "listen address")
	allow := fs.String("allow", "", "SPIFFE ID of the only client to accept")
	_ = fs.Parse(args)
	id, err := spiffeid.FromString(*allow)
	if err != nil {
		return fmt.Errorf("-allow: %w", err)
	}
	if _, err := src.load(); err != nil {
		return err
	}
	src.print()
	go func() {
		// The kubelet replaces the files (an atomic rename of the volume's folder) when
		// it has a new certificate.
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if changed, err := src.load(); err != nil {
				fmt.Println("reload failed:", err)
			} else if changed {
				src.print()
			}
		}
	}()
	ln, err := tls.Listen("tcp", *addr, tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeID(id)))
	if err != nil {
		return err
	}
	return serveConns(ctx, ln, func(c net.Conn) net.Conn { return peerConn{c.(*tls.Conn)} })
}

// peerConn gives handle the client's SPIFFE ID (spiffetls.PeerIDFromConn knows only
// spiffetls's own connections).
type peerConn struct{ *tls.Conn }

func (c peerConn) PeerID() (spiffeid.ID, error) {
	return spiffetls.PeerIDFromConnectionState(c.ConnectionState())
}

func dialFiles(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dial-files", flag.ExitOnError)
	src := sourceFlags(fs)
	addr := fs.String("addr", "127.0.0.1:9443", "server address")
	expect := fs.String("expect", "", "SPIFFE ID the server must present")
	msg := fs.String("message", "hello", "message to send")
	_ = fs.Parse(args)
	id, err := spiffeid.FromString(*expect)
	if err != nil {
		return fmt.Errorf("-expect: %w", err)
	}
	if _, err := src.load(); err != nil {
		return err
	}
	src.print()
	d := &tls.Dialer{Config: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(id))}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("mTLS dial: %w", err)
	}
	defer conn.Close()
	fmt.Fprintln(conn, *msg)
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading reply: %w", err)
	}
	fmt.Print("reply: ", reply)
	return nil
}

// sourceFlags adds -svid and -bundle to fs; the source reads them once fs is parsed.
func sourceFlags(fs *flag.FlagSet) *fileSource {
	src := &fileSource{}
	fs.StringVar(&src.svidPath, "svid", "/var/run/spiffe/svid.pem", "the kubelet's credential bundle: private key, then certificate chain")
	fs.StringVar(&src.bundlePath, "bundle", "/var/run/spiffe/bundle.pem", "the trust domain's CA certificates")
	return src
}
