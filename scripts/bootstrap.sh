#!/usr/bin/env bash
# Set up .venv with exactly the versions in requirements.lock (keel's dependencies, the ML extra
# and the dev tools, every file checked against its sha256), then keel itself, editable.
# Safe to run again: when .venv already matches the lock, pip changes nothing (a few seconds).
# The lock pins torch to the CPU build this machine serves from local disk (pip's find-links,
# /opt/wheels); any other spec may download a multi-GB CUDA build. To change a version, edit
# pyproject.toml or requirements.in and regenerate the lock (the command is in its header).
# The audit report's browser test needs Debian's chromium: installed here when apt can.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --require-hashes -r requirements.lock
# keel's dependencies all came from the lock; its build backend (setuptools) too.
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing chromium (for the audit report's browser test)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# `promtool check rules` / `promtool test rules` check keel export prometheus's rules in the tests:
# Debian's prometheus package ships promtool (about 19 MB to download, 96 MB installed; its
# server is stopped and disabled below). Best effort: bootstrap never fails on it, and the
# tests skip with a message without promtool.
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing promtool (Debian's prometheus package, for the alert-rule tests)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus; } >/dev/null 2>&1 \
        || echo "bootstrap: could not install prometheus; the promtool tests will be skipped"
    # only promtool is wanted: on a machine that runs services, do not leave a server running
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi
echo "bootstrap: .venv ready ($(.venv/bin/keel --version))"
