#!/usr/bin/env bash
# The Lanyard demo: a server and an agent on embedded defaults, two workloads that get
# their identities from the agent and talk mTLS to each other, and a JWT-SVID round trip.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
go build -o "$BIN/" ./cmd/lanyard-server ./cmd/lanyard-agent ./e2e/workload

WORK=$(mktemp -d /tmp/lanyard-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TD=example.org
ADMIN="$WORK/admin.sock"
SOCK="$WORK/agent/api.sock"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # wait_for DESCRIPTION COMMAND...: poll up to 30 s
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2
  for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log:" >&2; tail -20 "$log" >&2; }; done
  return 1
}

step "Starting lanyard-server for trust domain $TD"
cat > "$WORK/server.yaml" <<YAML
trust_domain: $TD
data_dir: $WORK/server
bind_port: 18081
admin_socket_path: $ADMIN
health_address: 127.0.0.1:18082
YAML
"$BIN/lanyard-server" run -config "$WORK/server.yaml" 2>"$WORK/server.log" &
PIDS+=($!)
wait_for "server" "$BIN/lanyard-server" healthcheck -socketPath "$ADMIN"
"$BIN/lanyard-server" healthcheck -socketPath "$ADMIN"

step "Generating a join token and starting lanyard-agent"
TOKEN=$("$BIN/lanyard-server" token generate -socketPath "$ADMIN" -ttl 600 | awk '/Token/ {print $2}')
"$BIN/lanyard-server" bundle show -socketPath "$ADMIN" > "$WORK/bundle.pem"
cat > "$WORK/agent.yaml" <<YAML
trust_domain: $TD
server_port: 18081
data_dir: $WORK/agent-data
socket_path: $SOCK
health_address: 127.0.0.1:18083
trust_bundle_path: $WORK/bundle.pem
join_token: $TOKEN
YAML
"$BIN/lanyard-agent" run -config "$WORK/agent.yaml" 2>"$WORK/agent.log" &
PIDS+=($!)
wait_for "agent" "$BIN/lanyard-agent" healthcheck -address 127.0.0.1:18083
AGENT_ID="spiffe://$TD/spire/agent/join_token/$TOKEN"
echo "agent attested as $AGENT_ID"

step "Registering two workloads (told apart by their binary path)"
cp "$BIN/workload" "$WORK/billing"
cp "$BIN/workload" "$WORK/frontend"
for name in billing frontend; do
  "$BIN/lanyard-server" entry create -socketPath "$ADMIN" -parentID "$AGENT_ID" \
    -spiffeID "spiffe://$TD/$name" -selector "unix:uid:$(id -u)" -selector "unix:path:$WORK/$name" -x509SVIDTTL 300
done

step "billing serves mTLS and accepts only spiffe://$TD/frontend"
SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" "$WORK/billing" serve -addr 127.0.0.1:19443 -allow "spiffe://$TD/frontend" > "$WORK/billing.log" 2>&1 &
PIDS+=($!)
wait_for "billing" grep -q listening "$WORK/billing.log"

step "frontend dials billing, requiring spiffe://$TD/billing"
SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" "$WORK/frontend" dial -addr 127.0.0.1:19443 -expect "spiffe://$TD/billing" -message "invoice #42 please"
wait_for "billing log" grep -q "request from" "$WORK/billing.log"
grep "request from" "$WORK/billing.log"

step "frontend fetches a JWT-SVID for audience 'billing'; billing validates it"
JWT=$(SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" "$WORK/frontend" jwt -audience billing)
echo "${JWT:0:40}..."
SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" "$WORK/billing" validate -audience billing -token "$JWT"

step "Entries on the server"
"$BIN/lanyard-server" entry show -socketPath "$ADMIN" | grep -E "SPIFFE ID|Parent ID|Selector" || true
printf '\n\033[1mDemo complete.\033[0m Logs were in %s (removed on exit).\n' "$WORK"
