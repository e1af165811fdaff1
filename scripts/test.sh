#!/usr/bin/env bash
# Set up (with test tools) and run the lint and the test suite: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
. .venv/bin/activate
export NAS_RLM_DATA="${NAS_RLM_DATA:-$(cd .. && pwd)/shared/data}"
ruff check .
python -m pytest -q "$@"
