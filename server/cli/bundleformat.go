package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
)

const (
	formatPEM    = "pem"
	formatSPIFFE = "spiffe"
)

func checkFormat(f string) error {
	if f != formatPEM && f != formatSPIFFE {
		return fmt.Errorf("-format must be pem or spiffe, not %q", f)
	}
	return nil
}

// encodeBundle renders a bundle as PEM (X.509 authorities only) or as a SPIFFE bundle
// (a JWKS document with X.509 and JWT authorities, refresh hint and sequence number).
func encodeBundle(b *types.Bundle, format string) ([]byte, error) {
	if format == formatPEM {
		return bundleconv.X509PEM(b), nil
	}
	sb, err := bundleconv.ToSPIFFE(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle of %s as a SPIFFE bundle: %w", b.TrustDomain, err)
	}
	doc, err := sb.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding bundle of %s as a SPIFFE bundle: %w", b.TrustDomain, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "    "); err != nil {
		return nil, fmt.Errorf("encoding bundle of %s as a SPIFFE bundle: %w", b.TrustDomain, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// decodeBundle parses bundle data for trust domain td given as PEM certificates or as a
// SPIFFE bundle document.
func decodeBundle(td string, data []byte, format string) (*types.Bundle, error) {
	if format == formatPEM {
		return decodePEMBundle(td, data)
	}
	trustDomain, err := spiffeid.TrustDomainFromString(td)
	if err != nil {
		return nil, err
	}
	sb, err := spiffebundle.Parse(trustDomain, data)
	if err != nil {
		return nil, fmt.Errorf("not a SPIFFE bundle (JWKS) document: %w", err)
	}
	return bundleconv.FromSPIFFE(sb)
}

func decodePEMBundle(td string, data []byte) (*types.Bundle, error) {
	out := &types.Bundle{TrustDomain: td}
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want only CERTIFICATE blocks", n, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		out.X509Authorities = append(out.X509Authorities, &types.X509Certificate{Asn1: block.Bytes})
	}
	if len(out.X509Authorities) == 0 {
		return nil, fmt.Errorf("no PEM certificates found (use -format spiffe for a JWKS document)")
	}
	return out, nil
}
