#!/usr/bin/env bash
# Set up .venv with keel, the ML extra and the dev tools. Safe to run again: it only installs
# what is missing or changed (pip decides). torch is pinned to the CPU build this machine
# serves from local disk; any other spec may download a multi-GB CUDA build.
# The audit report's browser test needs Debian's chromium: installed here when apt can.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[ml,dev]"
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing chromium (for the audit report's browser test)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "bootstrap: .venv ready ($(.venv/bin/keel --version))"
