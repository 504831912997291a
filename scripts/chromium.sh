#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives it through
# executable_path=/usr/bin/chromium; no browser is ever downloaded by Playwright).
# Does nothing when /usr/bin/chromium already exists. Needs root and apt-get.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present) at /usr/bin/chromium"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium: /usr/bin/chromium is missing and this is not root; run: sudo apt-get install chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: /usr/bin/chromium is missing and apt-get is not available on this system" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium fonts-noto-cjk
echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null)"
