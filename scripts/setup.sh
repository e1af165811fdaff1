#!/usr/bin/env bash
# Create .venv and install nas-rlm with pinned dependencies. Pass --dev for test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q -r requirements.txt
if [ "${1:-}" = "--dev" ]; then
  python -m pip install -q -r requirements-dev.txt
  python -m pip install -q --no-deps xautodl==1.0.0
fi
python -m pip install -q --no-deps -e .
