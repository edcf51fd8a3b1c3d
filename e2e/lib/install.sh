# Shared by the e2e/*/install.sh scripts; source it after setting NAME (the prefix of
# every line printed) and, optionally, LANYARD_CACHE. It defines:
#   say MSG...        a progress line on stdout
#   die MSG...        an error line on stderr, then exit 1
#   lock DIR          waits for other runs holding DIR/.install.lock (two worktrees
#                     sharing one cache, parallel CI jobs), so nothing is built twice
#                     into the same files; the lock is held until the script exits
#   apt_install PKG...  installs Debian packages, refreshing the package lists only when
#                     apt does not know the first package yet
# REPO is the repository root and LANYARD_CACHE defaults to REPO/.cache.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LANYARD_CACHE=${LANYARD_CACHE:-$REPO/.cache}

say() { printf '[%s] %s\n' "$NAME" "$*"; }
die() { printf '[%s] error: %s\n' "$NAME" "$*" >&2; exit 1; }

lock() {
  mkdir -p "$1"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$1/.install.lock"
  flock 9 || die "could not lock $1/.install.lock"
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "$* missing and apt-get unavailable: install them (Debian packages: $*)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing $* from Debian"
  if ! apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "apt-get update"
    $sudo apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
