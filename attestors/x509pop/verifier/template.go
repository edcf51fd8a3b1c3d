package verifier

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"text/template"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop"
)

// Default agent path templates, SPIRE's, by mode: the agent ID is
// spiffe://TD/spire/agent + the rendered path.
const (
	DefaultPathTemplate       = "/{{ .PluginName }}/{{ .Fingerprint }}"
	DefaultSPIFFEPathTemplate = "/{{ .PluginName }}/{{ .SVIDPathTrimmed }}"
)

// pathData is what agent_path_template sees: SPIRE's names, and every field of the
// node's certificate (.Subject.CommonName, .SerialNumber, ...).
type pathData struct {
	*x509.Certificate
	PluginName      string
	Fingerprint     string
	SerialNumberHex string
	TrustDomain     string
	SVIDPathTrimmed string
	URISanSelectors map[string]string
}

// ParsePathTemplate parses an agent_path_template. A key the data lacks is an error at
// attestation instead of "<no value>" in an agent ID.
func ParsePathTemplate(text string) (*template.Template, error) {
	return template.New("agent_path_template").Option("missingkey=error").Parse(text)
}

// agentID renders the template for the leaf and makes the agent ID of the path.
func agentID(td spiffeid.TrustDomain, tmpl *template.Template, d pathData) (spiffeid.ID, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return spiffeid.ID{}, fmt.Errorf("agent_path_template: %w", err)
	}
	path := buf.String()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	id, err := spiffeid.FromPath(td, "/spire/agent"+path)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("agent_path_template gave %q for this certificate, which is not a SPIFFE ID path: %w", path, err)
	}
	return id, nil
}

// newPathData fills in the template's data for leaf.
func newPathData(td spiffeid.TrustDomain, leaf *x509.Certificate, svidPath string, sans map[string]string) pathData {
	return pathData{
		Certificate:     leaf,
		PluginName:      x509pop.Type,
		Fingerprint:     attestors.CertFingerprint(leaf),
		SerialNumberHex: x509pop.SerialNumberHex(leaf.SerialNumber),
		TrustDomain:     td.Name(),
		SVIDPathTrimmed: svidPath,
		URISanSelectors: sans,
	}
}
