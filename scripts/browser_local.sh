#!/usr/bin/env bash
# A headless Chromium for the browser tests (tests/test_browser.py) and CI:
#   scripts/browser_local.sh    install Debian's `chromium` when no Chromium is found (as root, apt-get),
#                               then print the path of the browser (one line); exit 3 when it cannot
# Idempotent: with a browser present it installs nothing. COURSE_CHROMIUM names another binary.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

find_browser() {
  local b
  for b in ${COURSE_CHROMIUM:-} chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
  done
  return 1
}

if find_browser; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "browser_local.sh: no chromium found and not root (apt-get install chromium as root)" >&2; exit 3; fi
command -v apt-get >/dev/null || { echo "browser_local.sh: no chromium found and no apt-get to install it" >&2; exit 3; }
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { echo "browser_local.sh: apt-get install chromium failed" >&2; exit 3; }
fi
find_browser || { echo "browser_local.sh: chromium installed but not on PATH" >&2; exit 3; }
