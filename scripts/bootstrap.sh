#!/usr/bin/env bash
# Set up .venv with keel, the ML extra and the dev tools. Safe to run again: it only installs
# what is missing or changed (pip decides). torch is pinned to the CPU build this machine
# serves from local disk; any other spec may download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[ml,dev]"
echo "bootstrap: .venv ready ($(.venv/bin/keel --version))"
