{{/* lanyard.podCertificatesConfig renders server.yaml's kubernetes_pod_certificates (in-cluster). */}}
{{- define "lanyard.podCertificatesConfig" -}}
{{- $p := .Values.server.podCertificates -}}
{{- toYaml (dict "signer_name" $p.signerName "ttl" $p.ttl "default_spiffe_id_template" $p.defaultSPIFFEIDTemplate "trust_bundles" $p.trustBundles "cluster_name" .Values.clusterName) -}}
{{- end -}}
