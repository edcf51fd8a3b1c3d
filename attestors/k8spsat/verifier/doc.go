// Package verifier is the server half of the k8s_psat node attestor: it validates an
// agent's projected service account token with the Kubernetes TokenReview API, checks
// the pod the token is bound to and names the agent after that pod's node.
package verifier
