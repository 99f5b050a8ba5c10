#!/usr/bin/env bash
# The project's one check command: lint, format, types, layering, then the tests.
# Usage: bash scripts/check.sh [pytest arguments]
# The database of the tests is PILOTIS_TEST_DATABASE_URL (default: a fresh SQLite file).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  echo "== Installation de l'environnement (.venv)"
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
fi
bin=.venv/bin
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff (lint)";          "$bin/ruff" check .
echo "== ruff (format)";        "$bin/ruff" format --check .
echo "== mypy";                 "$bin/mypy"
echo "== import-linter";        "$bin/lint-imports" --no-cache
echo "== pytest (base : ${PILOTIS_TEST_DATABASE_URL:-SQLite})"
"$bin/python" -m pytest --cov --cov-report=term "$@"
