#!/usr/bin/env bash
# A headless Chromium for the browser tests (tests/test_browser.py) and CI:
#   scripts/browser_local.sh    install Debian's `chromium` (and a colour emoji font, so the 🎉 of a passed
#                               self-check is drawn) when missing (as root, apt-get), then print the path
#                               of the browser (one line); exit 3 when there is no browser and it cannot
#                               install one
# Idempotent: with both present it installs nothing. COURSE_CHROMIUM names another browser binary.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

find_browser() {
  local b
  for b in ${COURSE_CHROMIUM:-} chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
  done
  return 1
}

apt_install() {   # apt_install PKG...: quietly, refreshing the package lists only when a first try fails
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

if ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 && can_install; then
  apt_install fonts-noto-color-emoji || true   # cosmetic: the tests pass without it
fi
if find_browser; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "browser_local.sh: no chromium found and not root (apt-get install chromium as root)" >&2; exit 3; fi
command -v apt-get >/dev/null || { echo "browser_local.sh: no chromium found and no apt-get to install it" >&2; exit 3; }
apt_install chromium || { echo "browser_local.sh: apt-get install chromium failed (no network or no Debian package lists?)" >&2; exit 3; }
find_browser || { echo "browser_local.sh: chromium installed but not on PATH" >&2; exit 3; }
