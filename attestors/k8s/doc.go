// Package k8s is the Kubernetes workload attestor: it finds the pod and container of a
// process from its cgroups, looks them up in the local kubelet's pod list and describes
// them with SPIRE-compatible selectors (k8s:ns:, k8s:sa:, k8s:pod-label:, ...).
package k8s
