#!/usr/bin/env bash
# Installs what the PKCS#11 key manager tests need: Debian's SoftHSM2 (the PKCS#11 module
# /usr/lib/softhsm/libsofthsm2.so and softhsm2-util). The tests make their own tokens in
# temp directories (server/keymanager/pkcs11/hsmtest, through SOFTHSM2_CONF), so the
# system token directory is never used. Safe to re-run: an installed SoftHSM2 is kept.
set -euo pipefail
NAME=softhsm-install
. "$(dirname "$0")/../lib/install.sh"

MODULE=/usr/lib/softhsm/libsofthsm2.so

if [ -f "$MODULE" ] && command -v softhsm2-util >/dev/null 2>&1; then
  say "SoftHSM2 present: $(softhsm2-util --version)"
  exit 0
fi
apt_install softhsm2
[ -f "$MODULE" ] || die "installed softhsm2 but found no $MODULE"
command -v softhsm2-util >/dev/null 2>&1 || die "installed softhsm2 but found no softhsm2-util"
say "SoftHSM2 ready: $(softhsm2-util --version)"
