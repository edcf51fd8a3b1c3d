{{/* lanyard.serverConfig renders server.yaml (see the README's Server table). */}}
{{- define "lanyard.serverConfig" -}}
{{- $s := .Values.server -}}
{{- $c := dict "trust_domain" .Values.trustDomain "data_dir" "/var/lib/lanyard/server" "bind_address" "0.0.0.0" "bind_port" (int $s.port) "admin_socket_path" "/run/lanyard/server/admin.sock" "health_address" (printf "0.0.0.0:%d" (int $s.healthPort)) "log_format" "json" -}}
{{- $cluster := dict "service_account_allow_list" (list (printf "%s:lanyard-agent" .Release.Namespace)) -}}
{{- $_ := set $c "node_attestors" (dict "k8s_psat" (dict "clusters" (dict .Values.clusterName $cluster))) -}}
{{- $_ := set $c "kubernetes_registration" (dict "cluster" .Values.clusterName) -}}
{{- $_ := set $c "kubernetes_bundle" (dict "namespace" .Release.Namespace "config_map" "lanyard-bundle") -}}
{{- if $s.oidc.enabled -}}
{{- if not $s.oidc.tlsSecret -}}{{ fail "server.oidc.tlsSecret is required with server.oidc.enabled: the server serves discovery over plain HTTP only on loopback" }}{{- end -}}
{{- $oidc := dict "address" (printf "0.0.0.0:%d" (int $s.oidc.port)) "cert_file" "/etc/lanyard/oidc/tls.crt" "key_file" "/etc/lanyard/oidc/tls.key" -}}
{{- with $s.oidc.issuer }}{{ $_ := set $oidc "issuer" . }}{{ end -}}
{{- $_ := set $c "oidc" $oidc -}}
{{- else -}}
{{- $_ := set $c "oidc" (dict "address" "") -}}
{{- end -}}
{{- if eq $s.datastore.type "postgres" -}}
{{- if not $s.datastore.connectionString -}}{{ fail "server.datastore.connectionString is required with datastore.type postgres" }}{{- end -}}
{{- $_ := set $c "datastore" (dict "type" "postgres" "connection_string" $s.datastore.connectionString) -}}
{{- else if eq $s.datastore.type "sqlite" -}}
{{- if gt (int $s.replicas) 1 -}}{{ fail "server.replicas above 1 needs server.datastore.type postgres: SQLite serves one server" }}{{- end -}}
{{- else -}}
{{- fail (printf "server.datastore.type %q: want sqlite or postgres" $s.datastore.type) -}}
{{- end -}}
{{- $fed := dict -}}
{{- if $s.federation.bundleEndpoint.enabled -}}
{{- $_ := set $fed "bundle_endpoint" (dict "address" "0.0.0.0" "port" (int $s.federation.bundleEndpoint.port)) -}}
{{- end -}}
{{- with $s.federation.federatesWith }}{{ $_ := set $fed "federates_with" . }}{{ end -}}
{{- if $fed }}{{ $_ := set $c "federation" $fed }}{{ end -}}
{{- if $s.podCertificates.enabled }}{{ $_ := set $c "kubernetes_pod_certificates" (include "lanyard.podCertificatesConfig" . | fromYaml) }}{{ end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* lanyard.agentConfig renders agent.yaml (see the README's Agent section). */}}
{{- define "lanyard.agentConfig" -}}
{{- $c := dict "trust_domain" .Values.trustDomain "server_address" (printf "lanyard-server.%s.svc" .Release.Namespace) "server_port" (int .Values.server.port) "data_dir" "/var/lib/lanyard/agent" "socket_path" "/run/lanyard/sockets/api.sock" "health_address" (printf "0.0.0.0:%d" (int .Values.agent.healthPort)) "trust_bundle_path" "/run/lanyard/bundle/bundle.pem" "node_attestor" "k8s_psat" "log_format" "json" -}}
{{- $_ := set $c "k8s_psat" (dict "cluster" .Values.clusterName) -}}
{{- $_ := set $c "workload_attestors" (dict "k8s" (.Values.agent.kubelet | default dict)) -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "lanyard.image" -}}
image: {{ printf "%s/%s:%s" .root.Values.image.repository .name .root.Values.image.tag }}
{{- with .root.Values.image.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end -}}
