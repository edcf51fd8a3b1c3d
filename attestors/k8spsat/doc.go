// Package k8spsat is the agent half of the k8s_psat node attestor and its wire format:
// an agent in a Kubernetes pod sends its projected service account token, and the
// server (package k8spsat/verifier) validates it with the TokenReview API. The halves
// are split so the agent does not link client-go.
package k8spsat
