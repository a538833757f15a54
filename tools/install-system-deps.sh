#!/usr/bin/env bash
# System packages the tests use, from Debian: R with lme4 and lmerTest (the agreement tests),
# Chromium (the report is opened in a headless browser) and mricron-data (Colin27 and its AAL
# labels, a single-subject source of planted-change pairs).
# Installs only what is missing, and only as root; otherwise says what would be needed, and
# the tests that need it are skipped with that reason.
set -euo pipefail
packages=(r-base-core r-cran-lme4 r-cran-lmertest chromium fonts-dejavu-core mricron-data)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system-deps: not root or not Debian; missing: ${missing[*]} (their tests will be skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
