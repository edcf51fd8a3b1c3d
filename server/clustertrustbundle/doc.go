// Package clustertrustbundle publishes the server's trust bundles as Kubernetes
// ClusterTrustBundles of the pod certificate signer: the trust domain's X.509
// authorities, and each federated trust domain's, labelled so that a pod's
// clusterTrustBundle volume can select them. They follow CA rotation and federation
// refreshes, and a federated one goes when its trust domain's bundle does.
package clustertrustbundle
