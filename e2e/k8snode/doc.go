// Package k8snode runs a real single-node Kubernetes cluster for tests on 127.0.0.1: the
// etcd + kube-apiserver pair of e2e/k8stest, plus Debian's containerd and runc, a real
// kubelet registered as a node, kube-controller-manager and kube-scheduler (all from
// e2e/k8s/install.sh). There is no CNI: pods run with hostNetwork. Images come from
// OCI tarballs imported into the node's containerd (e2e/images). Everything the node
// leaves on the host (processes, mounts, cgroups) is removed when the test ends, also
// after a failure.
package k8snode
