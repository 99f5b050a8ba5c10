#!/usr/bin/env bash
# The project's one check command: lint, format, types, layering, then the tests.
# Usage: bash scripts/check.sh [pytest arguments]
# The database of the tests is PILOTIS_TEST_DATABASE_URL (default: a fresh SQLite file).
# On a fresh machine it installs what it needs: the .venv with the dev tools, Debian's
# Chromium for the browser tests, and axe-core from the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bin=.venv/bin
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff (lint)";          "$bin/ruff" check .
echo "== ruff (format)";        "$bin/ruff" format --check .
echo "== mypy";                 "$bin/mypy"
echo "== import-linter";        "$bin/lint-imports" --no-cache
echo "== bandit (sévérité haute)"; "$bin/bandit" -q -r pilotis models services scorecard optimizer views jobs --severity-level high
echo "== pytest (base : ${PILOTIS_TEST_DATABASE_URL:-SQLite})"
"$bin/python" -m pytest -p no:cacheprovider --cov --cov-report=term "$@"
