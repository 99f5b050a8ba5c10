#!/usr/bin/env bash
# The project's one check command: lint, format, types, layering, then the tests.
# Usage: bash scripts/check.sh [pytest arguments]
# The database of the tests is PILOTIS_TEST_DATABASE_URL (default: a fresh SQLite file).
# The tests run in random order (pytest-randomly: the seed is printed at the top; rerun one
# order with --randomly-seed=N, or keep the file order with -p no:randomly), spread
# over the machine's cores (pytest-xdist, work stealing), and the 20 slowest are listed.
# Environment:
#   PILOTIS_CHECK=static|tests    only the static checks, or only the tests (default: both)
#   PILOTIS_TEST_WORKERS=N        test processes (default: one per core; 0 runs them in this one)
#   PILOTIS_TESTS=database        only the tests that touch the database (CI's second backend:
#                                 the others give the same answer on any database)
#   PILOTIS_COVERAGE=1            with branch coverage (the tests then take about 2.2 times as long;
#                                 CI runs without it to stay under 10 minutes)
# On a fresh machine it installs what it needs: the .venv with the dev tools, Debian's
# Chromium for the browser tests, and axe-core from the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bin=.venv/bin
if ! "$bin/python" -c "import xdist, pytest_randomly" 2>/dev/null; then
  echo "== Installation des outils de test ajoutés depuis (pytest-xdist, pytest-randomly)"
  "$bin/python" -m pip install --quiet -e '.[dev]'
fi
# compiled modules are kept (__pycache__, ignored by git): a new process, an xdist worker or a
# CLI test, then starts without compiling the application's 200 modules and migrations again
unset PYTHONDONTWRITEBYTECODE
what=${PILOTIS_CHECK:-all}

if [ "$what" != tests ]; then
  echo "== ruff (lint)";          "$bin/ruff" check .
  echo "== ruff (format)";        "$bin/ruff" format --check .
  echo "== mypy";                 "$bin/mypy"
  echo "== import-linter";        "$bin/lint-imports" --no-cache
  echo "== bandit (sévérité haute)"; "$bin/bandit" -q -r pilotis models services scorecard optimizer views jobs --severity-level high
fi
if [ "$what" != static ]; then
  workers=${PILOTIS_TEST_WORKERS:-$(nproc)}
  coverage=()
  if [ "${PILOTIS_COVERAGE:-0}" = 1 ]; then coverage=(--cov --cov-report=term); fi
  distribution=()
  if [ "$workers" != 0 ]; then distribution=(--dist worksteal); fi
  echo "== pytest (base : ${PILOTIS_TEST_DATABASE_URL:-SQLite}, ${workers} processus, tests : ${PILOTIS_TESTS:-tous}, couverture : ${PILOTIS_COVERAGE:-0})"
  "$bin/python" -m pytest -p no:cacheprovider -n "$workers" "${distribution[@]}" --durations=20 "${coverage[@]}" "$@"
fi
