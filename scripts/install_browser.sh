#!/usr/bin/env bash
# Install the headless browser the browser test (tests/test_browser.py) drives: Debian's
# chromium and chromium-driver. Idempotent: does nothing when both are already there.
# Runs without a terminal (CI): apt-get non-interactive, no prompts. Needs root (or sudo).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
  echo "[browser] present: $(chromium --version 2>/dev/null | head -n1); $(chromedriver --version 2>/dev/null | head -n1)"
  exit 0
fi

if ! have apt-get; then
  echo "[browser] chromium/chromedriver missing and no apt-get here: install Chromium and" \
       "its matching chromedriver by hand (the browser test will be skipped)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then SUDO="sudo -n"; else
    echo "[browser] need root (or sudo) to apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "[browser] installing chromium chromium-driver (and fonts) with apt-get ..."
$SUDO apt-get update -q </dev/null
$SUDO apt-get install -y -q --no-install-recommends \
  chromium chromium-driver fonts-dejavu-core fonts-liberation </dev/null
echo "[browser] installed: $(chromium --version 2>/dev/null | head -n1); $(chromedriver --version 2>/dev/null | head -n1)"
