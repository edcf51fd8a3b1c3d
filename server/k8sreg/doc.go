// Package k8sreg registers Kubernetes pods automatically: it watches IdentityTemplate
// objects (deploy/crds), pods, nodes and namespaces through client-go informers and keeps
// one registration entry per matching pod, parented to the agent of the pod's node and
// selected by k8s:pod-uid. It replaces SPIRE's separate controller-manager and its
// ClusterSPIFFEID resources, whose template syntax it accepts.
package k8sreg
