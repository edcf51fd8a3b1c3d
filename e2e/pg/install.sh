#!/usr/bin/env bash
# Installs what the PostgreSQL tests need: Debian's PostgreSQL server binaries
# (/usr/lib/postgresql/<version>/bin). The tests start their own throwaway clusters
# (server/datastore/postgres/pgtest), so no system cluster is created or started. Safe to
# re-run: an installed PostgreSQL is kept.
set -euo pipefail
NAME=pg-install
. "$(dirname "$0")/../lib/install.sh"

initdb_path() { ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1; }

if [ -n "$(initdb_path)" ]; then
  say "PostgreSQL present: $("$(initdb_path)" --version)"
else
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL missing and apt-get unavailable: install PostgreSQL so that /usr/lib/postgresql/<version>/bin/initdb exists"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  # Only refresh the package lists when apt does not know the package yet.
  if ! apt-cache policy postgresql 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "apt-get update"
    $sudo apt-get update -qq
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "installing postgresql-common, then postgresql, from Debian"
  $sudo apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
  # The tests bring their own clusters: do not create (and start) the system's "main" one.
  if [ -f /etc/postgresql-common/createcluster.conf ]; then
    $sudo sed -i 's/^#\?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
  fi
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  [ -n "$(initdb_path)" ] || die "installed postgresql but found no /usr/lib/postgresql/*/bin/initdb"
  say "PostgreSQL ready: $("$(initdb_path)" --version)"
fi

# postgres refuses to run as root; root test runs start clusters as "nobody".
if [ "$(id -u)" = 0 ] && ! id nobody >/dev/null 2>&1; then
  die "running as root needs the user 'nobody' to run the test clusters"
fi
