package podcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certsv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/internal/renew"
	"github.com/lanyard-dev/lanyard/server/ca"
)

// Lifetime bounds of a pod certificate, enforced by the apiserver.
const (
	minLifetime     = time.Hour
	defaultLifetime = 24 * time.Hour // spec.maxExpirationSeconds when unset
	// refreshMargin: the apiserver wants beginRefreshAt at least this long after
	// notBefore and before notAfter.
	refreshMargin = 10 * time.Minute
)

// answer is what a request gets: an issued certificate or a verdict.
type answer struct {
	verdict *verdict
	chain   []*x509.Certificate
	subject *subject
}

// decide checks the request and signs its key. A non-nil error is transient.
func (s *Signer) decide(ctx context.Context, pcr *certsv1.PodCertificateRequest) (*answer, error) {
	sub, v, err := s.check(ctx, pcr)
	if err != nil || v != nil {
		return &answer{verdict: v}, err
	}
	csr, err := x509.ParseCertificateRequest(pcr.Spec.StubPKCS10Request)
	if err != nil {
		// The apiserver parsed it at admission; a request it let through that we cannot
		// parse is ours to explain.
		return &answer{verdict: fail(ReasonSigningFailed, "spec.stubPKCS10Request does not parse: %v", err)}, nil
	}
	lifetime := s.lifetime(sub, pcr.Spec.MaxExpirationSeconds)
	chain, err := s.cfg.CA.SignX509SVID(ctx, ca.X509SVIDParams{
		ID: sub.identity.ID, PublicKey: csr.PublicKey, TTL: lifetime - ca.Backdate, DNSNames: sub.identity.DNSNames,
	})
	switch {
	case errors.Is(err, ca.ErrUnsupportedKeyType):
		return &answer{verdict: deny(certsv1.PodCertificateRequestConditionUnsupportedKeyType,
			"this signer signs ECDSA (P-256, P-384, P-521) and RSA keys; set keyType: ECDSAP256 in the podCertificate volume")}, nil
	case err != nil:
		return &answer{verdict: fail(ReasonSigningFailed, "signing: %v", err)}, nil
	}
	leaf := chain[0]
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < minLifetime {
		return &answer{verdict: fail(ReasonSigningFailed,
			"the active CA expires at %s, which leaves this certificate %s, under the 1h Kubernetes requires; the CA rotates before long, and a longer ca_ttl avoids this",
			leaf.NotAfter.UTC().Format(time.RFC3339), got)}, nil
	}
	return &answer{chain: chain, subject: sub}, nil
}

// lifetime is the template's or the configured TTL within [1h, maxExpirationSeconds].
func (s *Signer) lifetime(sub *subject, maxSeconds *int32) time.Duration {
	d := sub.identity.TTL
	if d == 0 {
		d = s.cfg.TTL
	}
	limit := defaultLifetime
	if maxSeconds != nil {
		limit = time.Duration(*maxSeconds) * time.Second
	}
	return max(min(d, limit), minLifetime)
}

// refreshAt is the beginRefreshAt of a certificate valid from nb to na: RefreshAfter
// past nb, or its half-life, within the apiserver's [nb+10m, na-10m]. The kubelet adds
// up to 5 minutes of jitter of its own.
func (s *Signer) refreshAt(nb, na time.Time) time.Time {
	at := renew.HalfLife(nb, na)
	if s.cfg.RefreshAfter > 0 {
		at = nb.Add(s.cfg.RefreshAfter)
	}
	if earliest := nb.Add(refreshMargin); at.Before(earliest) {
		at = earliest
	}
	if latest := na.Add(-refreshMargin); at.After(latest) {
		at = latest
	}
	// Whole seconds, as the API stores it; notBefore is whole (X.509), so rounding up
	// cannot leave the window, and down could only for a window under a second wide.
	return at.Truncate(time.Second)
}

// write stores the answer in the request's status, in one update that carries the
// resourceVersion read: if another signer answered first, the update conflicts and the
// other answer stands.
func (s *Signer) write(ctx context.Context, pcr *certsv1.PodCertificateRequest, a *answer) error {
	out := pcr.DeepCopy()
	cond := metav1.Condition{Status: metav1.ConditionTrue, ObservedGeneration: pcr.Generation,
		LastTransitionTime: metav1.NewTime(s.cfg.Clock.Now())}
	if a.verdict != nil {
		cond.Type, cond.Reason, cond.Message = a.verdict.typ, a.verdict.reason, a.verdict.message
	} else {
		leaf := a.chain[0]
		var buf bytes.Buffer
		for _, c := range a.chain {
			_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		out.Status.CertificateChain = buf.String()
		nb, na := metav1.NewTime(leaf.NotBefore), metav1.NewTime(leaf.NotAfter)
		refresh := metav1.NewTime(s.refreshAt(leaf.NotBefore, leaf.NotAfter))
		out.Status.NotBefore, out.Status.NotAfter, out.Status.BeginRefreshAt = &nb, &na, &refresh
		cond.Type, cond.Reason = certsv1.PodCertificateRequestConditionTypeIssued, "Issued"
		cond.Message = "X.509-SVID " + a.subject.identity.ID.String() + " from " + a.subject.template
	}
	out.Status.Conditions = append(out.Status.Conditions, cond)
	_, err := s.cfg.Kube.CertificatesV1().PodCertificateRequests(pcr.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		s.metrics.conflicts.Inc()
		return s.settled(ctx, pcr)
	case apierrors.IsNotFound(err):
		return nil // deleted meanwhile (the pod went away)
	case apierrors.IsInvalid(err) && a.verdict == nil:
		// The apiserver's checks of an issued certificate (times within 5 minutes of its
		// clock, lifetime bounds) would refuse every retry alike: say so on the request.
		return s.write(ctx, pcr, &answer{verdict: fail(ReasonSigningFailed, "the apiserver refused the issued certificate: %v", err)})
	case err != nil:
		return fmt.Errorf("writing the status of PodCertificateRequest %s/%s: %w", pcr.Namespace, pcr.Name, err)
	}
	s.record(pcr, a, cond)
	return nil
}

// settled re-reads a request whose status write conflicted: answered by another signer
// means done; otherwise the error retries it.
func (s *Signer) settled(ctx context.Context, pcr *certsv1.PodCertificateRequest) error {
	cur, err := s.cfg.Kube.CertificatesV1().PodCertificateRequests(pcr.Namespace).Get(ctx, pcr.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("re-reading PodCertificateRequest %s/%s after a conflict: %w", pcr.Namespace, pcr.Name, err)
	case answered(cur):
		s.cfg.Log.Debug("PodCertificateRequest answered by another signer", "request", pcr.Namespace+"/"+pcr.Name)
		return nil
	}
	return fmt.Errorf("PodCertificateRequest %s/%s changed while it was being answered; answering again", pcr.Namespace, pcr.Name)
}

// record logs and counts an answer that was stored.
func (s *Signer) record(pcr *certsv1.PodCertificateRequest, a *answer, cond metav1.Condition) {
	req := pcr.Namespace + "/" + pcr.Name
	pod := pcr.Namespace + "/" + pcr.Spec.PodName
	switch cond.Type {
	case certsv1.PodCertificateRequestConditionTypeIssued:
		s.metrics.answers.WithLabelValues("issued").Inc()
		leaf := a.chain[0]
		s.cfg.Log.Info("pod certificate issued", "spiffe_id", a.subject.identity.ID.String(), "pod", pod, "node", pcr.Spec.NodeName,
			"request", req, "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "from", a.subject.template)
	case certsv1.PodCertificateRequestConditionTypeDenied:
		s.metrics.answers.WithLabelValues("denied").Inc()
		s.cfg.Log.Info("pod certificate denied", "pod", pod, "request", req, "reason", cond.Reason, "message", cond.Message)
	default:
		s.metrics.answers.WithLabelValues("failed").Inc()
		s.cfg.Log.Warn("pod certificate failed", "pod", pod, "request", req, "reason", cond.Reason, "message", cond.Message)
	}
}
