// Package k8stest starts a real etcd and kube-apiserver on 127.0.0.1 for tests, with
// helpers to create the objects attestors look at (namespaces, service accounts, nodes,
// pods) and to request pod-bound service account tokens. Binaries come from
// e2e/k8s/install.sh; without them tests skip unless LANYARD_REQUIRE_K8S is set.
package k8stest
