#!/usr/bin/env bash
# Installs what the TPM tests need: Debian's software TPM (swtpm, with swtpm-tools for
# swtpm_setup) and tpm2-tools. The tests start their own swtpm per test in a temp dir
# (attestors/tpmdevid/tpmtest), so no system TPM or service is set up. Safe to re-run: an
# installed swtpm is kept.
set -euo pipefail
NAME=tpm-install
. "$(dirname "$0")/../lib/install.sh"

if command -v swtpm >/dev/null 2>&1 && command -v tpm2_createek >/dev/null 2>&1; then
  say "swtpm present: $(swtpm --version 2>&1 | head -1)"
else
  apt_install swtpm swtpm-tools tpm2-tools
  command -v swtpm >/dev/null 2>&1 || die "installed swtpm but found no swtpm on PATH"
  command -v tpm2_createek >/dev/null 2>&1 || die "installed tpm2-tools but found no tpm2_createek on PATH"
  say "swtpm ready: $(swtpm --version 2>&1 | head -1)"
fi
