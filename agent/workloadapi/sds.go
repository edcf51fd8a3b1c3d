package workloadapi

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// Resource names Envoy asks for, as SPIRE's agent names them, besides SPIFFE IDs (a TLS
// certificate) and trust domain IDs such as spiffe://example.org (that domain's CAs).
const (
	sdsDefaultSVID    = "default" // the workload's first X.509-SVID
	sdsDefaultBundle  = "ROOTCA"  // the agent's own trust domain's CAs
	sdsAllBundles     = "ALL"     // every bundle, checked per trust domain (SPIFFE validator)
	secretTypeURL     = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
	spiffeValidator   = "envoy.tls.cert_validator.spiffe"
	sdsMethodsPrefix  = "/envoy.service.secret.v3.SecretDiscoveryService/"
	maxSDSNamesPerReq = 1000
)

// sds serves Envoy's Secret Discovery Service on the Workload API socket, so Envoy
// proxies get their SVIDs and bundles from the agent without a sidecar of ours. Callers
// are attested exactly like Workload API clients; Envoy does not send the Workload API's
// security header, so SDS methods are exempt from it.
type sds struct {
	secretv3.UnimplementedSecretDiscoveryServiceServer
	s     *Server
	nonce atomic.Uint64
}

// StreamSecrets follows Envoy's requests and pushes new secrets on every rotation,
// entry change or bundle change of the caller.
func (d *sds) StreamSecrets(stream secretv3.SecretDiscoveryService_StreamSecretsServer) error {
	ctx := stream.Context()
	c, err := d.s.attest(ctx)
	if err != nil {
		return err
	}
	sub := d.s.cfg.Cache.Subscribe(c.selectors)
	defer sub.Close()
	ctx, cancel := d.s.streamContext(ctx)
	defer cancel()

	reqs, updates := make(chan *discoveryv3.DiscoveryRequest), make(chan *cache.WorkloadUpdate, 1)
	errc := make(chan error, 2)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		for {
			u, err := sub.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			select { // latest value wins
			case <-updates:
			default:
			}
			updates <- u
		}
	}()

	var (
		names     []string
		asked     bool
		current   *cache.WorkloadUpdate
		lastNonce string
		version   int
	)
	send := func() error {
		if !asked || current == nil {
			return nil
		}
		if err := c.stillCaller(); err != nil {
			return err
		}
		version++
		resp, err := d.response(current, names, strconv.Itoa(version))
		if err != nil {
			return err
		}
		lastNonce = resp.Nonce
		return stream.Send(resp)
	}
	for {
		select {
		case err := <-errc:
			if d.s.base.Err() != nil {
				return errShutdown
			}
			if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		case req := <-reqs:
			if req.TypeUrl != "" && req.TypeUrl != secretTypeURL {
				return status.Errorf(codes.InvalidArgument, "SDS serves %s, not %s", secretTypeURL, req.TypeUrl)
			}
			if len(req.ResourceNames) > maxSDSNamesPerReq {
				return status.Errorf(codes.InvalidArgument, "%d resource names: at most %d", len(req.ResourceNames), maxSDSNamesPerReq)
			}
			if req.ErrorDetail != nil {
				d.s.log.Warn("Envoy rejected secrets", "pid", c.info.PID, "error", req.ErrorDetail.Message)
				continue
			}
			// An ACK of our last response for the same names needs no answer.
			if asked && req.ResponseNonce == lastNonce && slices.Equal(req.ResourceNames, names) {
				continue
			}
			names, asked = slices.Clone(req.ResourceNames), true
			if err := send(); err != nil {
				return err
			}
		case u := <-updates:
			current = u
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// FetchSecrets answers one request with the caller's current secrets.
func (d *sds) FetchSecrets(ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	if len(req.ResourceNames) > maxSDSNamesPerReq {
		return nil, status.Errorf(codes.InvalidArgument, "%d resource names: at most %d", len(req.ResourceNames), maxSDSNamesPerReq)
	}
	c, err := d.s.attest(ctx)
	if err != nil {
		return nil, err
	}
	return d.response(d.s.cfg.Cache.Match(c.selectors), req.ResourceNames, "0")
}

// response builds the secrets named (all identities and the own bundle when none are).
func (d *sds) response(u *cache.WorkloadUpdate, names []string, version string) (*discoveryv3.DiscoveryResponse, error) {
	if len(u.Identities) == 0 {
		return nil, errNoIdentity
	}
	if len(names) == 0 {
		for _, id := range u.Identities {
			names = append(names, id.SVID.ID.String())
		}
		names = append(names, sdsDefaultBundle)
	}
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: version, TypeUrl: secretTypeURL,
		Nonce: strconv.FormatUint(d.nonce.Add(1), 10)}
	for _, name := range names {
		secret := secretFor(u, name)
		if secret == nil {
			continue // Envoy keeps waiting for it; an entry may still be on its way
		}
		a, err := anypb.New(secret)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "encoding secret %s: %v", name, err)
		}
		resp.Resources = append(resp.Resources, a)
	}
	return resp, nil
}

func secretFor(u *cache.WorkloadUpdate, name string) *tlsv3.Secret {
	switch name {
	case sdsDefaultSVID:
		return tlsSecret(name, u.Identities[0].SVID)
	case sdsDefaultBundle:
		return caSecret(name, u.Bundle)
	case sdsAllBundles:
		return allBundlesSecret(name, u)
	}
	id, err := spiffeid.FromString(name)
	if err != nil {
		return nil
	}
	if id.Path() == "" { // a trust domain: its CAs
		if u.Bundle != nil && u.Bundle.TrustDomain == id.TrustDomain() {
			return caSecret(name, u.Bundle)
		}
		return caSecret(name, u.FederatedBundles[id.TrustDomain()])
	}
	for _, ident := range u.Identities {
		if ident.SVID.ID == id {
			return tlsSecret(name, ident.SVID)
		}
	}
	return nil
}

func tlsSecret(name string, s *cache.X509SVID) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inline(pemChain(s.ChainDER)),
		PrivateKey:       inline(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: s.KeyDER})),
	}}}
}

func caSecret(name string, b *cache.Bundle) *tlsv3.Secret {
	if b == nil || len(b.X509DER) == 0 {
		return nil
	}
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: inline(pemChain(b.X509DER)),
	}}}
}

// allBundlesSecret checks a peer against the bundle of its own trust domain only, which
// a flat list of CAs could not do.
func allBundlesSecret(name string, u *cache.WorkloadUpdate) *tlsv3.Secret {
	cfg := &tlsv3.SPIFFECertValidatorConfig{}
	add := func(b *cache.Bundle) {
		if b != nil && len(b.X509DER) > 0 {
			cfg.TrustDomains = append(cfg.TrustDomains, &tlsv3.SPIFFECertValidatorConfig_TrustDomain{
				Name: b.TrustDomain.Name(), TrustBundle: inline(pemChain(b.X509DER))})
		}
	}
	add(u.Bundle)
	tds := make([]spiffeid.TrustDomain, 0, len(u.FederatedBundles))
	for td := range u.FederatedBundles {
		tds = append(tds, td)
	}
	slices.SortFunc(tds, func(a, b spiffeid.TrustDomain) int { return strings.Compare(a.Name(), b.Name()) })
	for _, td := range tds {
		add(u.FederatedBundles[td])
	}
	typed, err := anypb.New(cfg)
	if err != nil {
		return nil
	}
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		CustomValidatorConfig: &corev3.TypedExtensionConfig{Name: spiffeValidator, TypedConfig: typed},
	}}}
}

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// pemChain turns the cache's concatenated DER certificates into the PEM Envoy reads. The
// cache built that DER from parsed certificates, so parsing cannot fail here.
func pemChain(der []byte) []byte {
	certs, _ := x509.ParseCertificates(der)
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
