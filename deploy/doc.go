// Package deploy holds the Kubernetes manifests (namespace.yaml, crds/, server.yaml,
// agent.yaml); its test checks them against a real kube-apiserver and the real config
// parsers.
package deploy
