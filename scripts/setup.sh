#!/usr/bin/env bash
# Installs what the checks need on a fresh machine: the .venv with Pilotis and the dev tools,
# Debian's Chromium for the browser tests, and axe-core from the npm registry. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  echo "== Création de l'environnement virtuel (.venv)"
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
if [ ! -x .venv/bin/pytest ] || [ ! -x .venv/bin/ruff ] || ! .venv/bin/python -c "import pilotis" 2>/dev/null; then
  echo "== Installation de Pilotis et des outils de test"
  .venv/bin/python -m pip install --quiet -e '.[dev]'
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== Installation de Chromium (paquet Debian, pour les tests navigateur)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium est nécessaire aux tests navigateur : sudo apt-get install chromium" >&2
    exit 1
  fi
fi
if ! .venv/bin/python -c "import weasyprint" >/dev/null 2>&1; then
  # WeasyPrint (the ABS report's PDF) needs Pango from the system
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== Installation de Pango (paquets Debian, pour les PDF de WeasyPrint)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
  else
    echo "WeasyPrint a besoin de Pango : sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0" >&2
    exit 1
  fi
fi
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  echo "== Installation d'axe-core (registre npm, chargé depuis le disque par les tests navigateur)"
  npm ci --no-audit --no-fund --silent
fi
