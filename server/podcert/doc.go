// Package podcert makes lanyard-server the signer of Kubernetes PodCertificateRequests:
// the kubelet asks, for a pod's podCertificate volume, and the signer checks the pod,
// node and service account the request names, decides the pod's SPIFFE ID (an
// IdentityTemplate that opted in, or the default shape) and writes an X.509-SVID signed
// by the server CA into the request's status. Pods then get SVIDs as PEM files, with no
// agent, sidecar or SDK.
package podcert
