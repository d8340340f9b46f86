#!/usr/bin/env bash
# The whole test job, from a fresh machine: set-up, lint, types, contract artifacts, then every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== contract artifacts match the sources"
.venv/bin/python -m contracts.build --check
echo "== pytest"
# -rs lists any skipped test with its reason, so a missing tool never passes silently.
.venv/bin/python -m pytest -n 2 -rs "$@"
