package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/httpserve"
	"github.com/lanyard-dev/lanyard/server/certfile"
)

// BundleSource gives the server's current own bundle. It must be safe for concurrent use
// and answer from memory: it is called on every request.
type BundleSource interface {
	Bundle(ctx context.Context) (*types.Bundle, uint64, error)
}

// Config configures the handler.
type Config struct {
	// Issuer is the issuer URL, the "iss" of the JWT-SVIDs. Its path, if any, prefixes
	// both served paths.
	Issuer  string
	Bundles BundleSource
	// OmitKeyUse leaves "use" out of the published keys (SPIRE's set_key_use: false); by
	// default every key says "use": "sig", which some relying parties require.
	OmitKeyUse bool
	Log        *slog.Logger
}

// NewHandler returns the discovery and JWKS handler.
func NewHandler(cfg Config) (http.Handler, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("oidc: issuer %q is not a URL with a host", cfg.Issuer)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg, issuer: strings.TrimSuffix(cfg.Issuer, "/")}
	prefix := strings.TrimSuffix(u.Path, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/.well-known/openid-configuration", h.discovery)
	mux.HandleFunc("GET "+prefix+"/keys", h.keys)
	return mux, nil
}

type handler struct {
	cfg    Config
	issuer string
}

// discoveryDoc is the subset of OpenID Connect Discovery 1.0 §3 metadata that makes sense
// for a token issuer without an authorization endpoint. authorization_endpoint is present
// but empty: Lanyard has none, and parsers that expect the key still find it.
type discoveryDoc struct {
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	SubjectTypesSupported  []string `json:"subject_types_supported"`
	SigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
}

func (h *handler) discovery(w http.ResponseWriter, r *http.Request) {
	keys, seq, err := h.jwks(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	// Only what the published keys sign: a relying party that picks an algorithm from this
	// list must find a key for it.
	algs := []string{}
	for _, k := range keys.Keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	writeJSON(w, r, seq, discoveryDoc{
		Issuer:                 h.issuer,
		JWKSURI:                h.issuer + "/keys",
		ResponseTypesSupported: []string{"id_token"},
		SubjectTypesSupported:  []string{"public"},
		SigningAlgs:            algs,
	})
}

func (h *handler) keys(w http.ResponseWriter, r *http.Request) {
	keys, seq, err := h.jwks(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, r, seq, keys)
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	h.cfg.Log.Error("serving OIDC discovery", "error", err)
	http.Error(w, "signing keys unavailable", http.StatusServiceUnavailable)
}

// writeJSON answers v, or 304 when the client already holds this bundle revision.
func writeJSON(w http.ResponseWriter, r *http.Request, seq uint64, v any) {
	hdr := w.Header()
	// Browsers verify JWT-SVIDs too; the documents are public.
	hdr.Set("Access-Control-Allow-Origin", "*")
	// Short enough that no relying party refuses the first token of a new key. New keys
	// are published before they sign, but kube-apiserver (go-oidc v2) fetches keys only
	// when a token names an unknown kid, and not while its cached set has more than 30s
	// of max-age left: with max-age=60 a rotation within 30s of its last fetch was
	// refused until then. Below 30s it refetches on every unknown kid (deduplicated).
	// The ETag (the bundle's sequence number) makes revalidation cheap.
	hdr.Set("Cache-Control", "public, max-age=20")
	etag := `"` + strconv.FormatUint(seq, 10) + `"`
	hdr.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// jwks returns the bundle's JWT authorities as signature keys.
func (h *handler) jwks(ctx context.Context) (*jose.JSONWebKeySet, uint64, error) {
	b, seq, err := h.cfg.Bundles.Bundle(ctx)
	if err != nil {
		return nil, 0, err
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range b.JwtAuthorities {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			h.cfg.Log.Warn("skipping an unparsable JWT authority", "key_id", k.KeyId, "error", err)
			continue
		}
		alg, err := algorithm(pub)
		if err != nil {
			h.cfg.Log.Warn("skipping a JWT authority", "key_id", k.KeyId, "error", err)
			continue
		}
		use := "sig"
		if h.cfg.OmitKeyUse {
			use = ""
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.KeyId, Use: use, Algorithm: alg})
	}
	return set, seq, nil
}

// algorithm is the JWS algorithm lanyard signs with for a key type (see server/ca).
func algorithm(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return string(jose.RS256), nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return string(jose.ES256), nil
		case elliptic.P384():
			return string(jose.ES384), nil
		}
		return "", fmt.Errorf("unsupported curve %s", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// Serve serves h on ln until ctx is cancelled, over HTTPS when certFile and keyFile are set.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	serve := func() error { return srv.Serve(ln) }
	if certFile != "" {
		certs, err := certfile.New(certFile, keyFile, "oidc", log)
		if err != nil {
			return err
		}
		// A renewed certificate (certbot, cert-manager) is picked up without a restart.
		srv.TLSConfig = &tls.Config{GetCertificate: certs.Get, MinVersion: tls.VersionTLS12}
		serve = func() error { return srv.ServeTLS(ln, "", "") }
	}
	return httpserve.Serve(ctx, srv, 3*time.Second, serve)
}
