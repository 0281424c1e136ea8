#!/usr/bin/env bash
# Install what the analysis tests need beyond pip (run as root): Debian's chromium, which
# tests/analysis/test_index_page_in_a_browser.py uses to screenshot the analysis index page.
# Idempotent: installs only what is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-analysis-deps: must run as root (it installs packages)" >&2
  exit 1
fi
if ! command -v chromium >/dev/null; then
  echo "setup-analysis-deps: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium
fi
