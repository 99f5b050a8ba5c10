"""Write THIRD_PARTY_LICENSES.md: the licences of Pilotis's Python dependencies and front-end files.

Read from the installed environment (``importlib.metadata``): each distribution's SPDX
``License-Expression``, else its ``License`` field when it is a short name, else its ``License ::``
classifiers. The runtime dependencies are those ``pilotis`` requires, followed transitively; the
development extra (``pilotis[dev]``) is listed apart. Front-end files: whatever under ``static/``
is not Pilotis's own, and the npm packages of ``node_modules/`` (their ``package.json``).

    .venv/bin/python scripts/third_party_licences.py            # writes THIRD_PARTY_LICENSES.md
    .venv/bin/python scripts/third_party_licences.py --check    # fails if the file is out of date
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "THIRD_PARTY_LICENSES.md"
#: Files under static/ written for Pilotis (EUPL-1.2 like the rest); anything else is vendored.
OWN_STATIC = {"css/pilotis.css", "css/report.css", "img/favicon.svg", "js/survey.js"}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _field(meta: metadata.PackageMetadata, key: str) -> str:
    values = meta.get_all(key) or []
    return str(values[0]) if values else ""


def licence_of(dist: metadata.Distribution) -> str:
    """The distribution's licence as its metadata states it."""
    meta = dist.metadata
    expression = _field(meta, "License-Expression")
    if expression:
        return str(expression).strip()
    classifiers = [
        c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    field = _field(meta, "License").strip()
    if field and "\n" not in field and len(field) <= 80 and field.upper() != "UNKNOWN":
        return field
    if classifiers:
        return " ou ".join(dict.fromkeys(classifiers))  # a choice of licences
    return "non indiquée (voir le paquet)"


def requirements(dist: metadata.Distribution, extras: frozenset[str]) -> list[str]:
    """Names of what ``dist`` requires (with ``extras`` turned on), for this environment."""
    names = []
    environment: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    for raw in dist.requires or []:
        requirement = Requirement(raw)
        if requirement.marker is not None:
            wanted = [requirement.marker.evaluate({**environment, "extra": e}) for e in extras or {""}]
            if not any(wanted):
                continue
        names.append(_name(requirement.name))
    return names


def closure(roots: list[str], installed: dict[str, metadata.Distribution]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in installed:
            continue
        seen.add(name)
        todo.extend(requirements(installed[name], frozenset()))
    return seen


def python_rows(names: set[str], installed: dict[str, metadata.Distribution]) -> list[str]:
    rows = []
    for name in sorted(names):
        dist = installed[name]
        urls = {
            label.strip().lower(): url.strip()
            for label, _, url in (u.partition(",") for u in dist.metadata.get_all("Project-URL") or [])
        }
        home = _field(dist.metadata, "Home-page") or next(
            (
                urls[k]
                for k in ("homepage", "home", "source", "source code", "repository", "documentation")
                if k in urls
            ),
            "",
        )
        rows.append(f"| {dist.metadata['Name']} | {dist.version} | {licence_of(dist)} | {home} |")
    return rows


def front_end_rows() -> list[str]:
    rows = []
    static = ROOT / "static"
    for path in sorted(p for p in static.rglob("*") if p.is_file()):
        relative = path.relative_to(static).as_posix()
        if relative not in OWN_STATIC:
            rows.append(f"| static/{relative} | embarqué | à vérifier à la main | |")
    for manifest in sorted((ROOT / "node_modules").glob("*/package.json")):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        folder = manifest.parent.relative_to(ROOT).as_posix()
        notices = ", ".join(p.name for p in sorted(manifest.parent.glob("LICENSE*")))
        rows.append(
            f"| {folder} ({data.get('name')}) | {data.get('version')} | {data.get('license')} | {notices} |"
        )
    return rows


def render() -> str:
    installed = {_name(d.metadata["Name"]): d for d in metadata.distributions()}
    pilotis = installed["pilotis"]
    runtime = closure(requirements(pilotis, frozenset()), installed)
    dev = closure(requirements(pilotis, frozenset({"dev"})), installed) - runtime - {"pilotis"}
    lines = [
        "# Licences des composants tiers",
        "",
        "Pilotis est publié sous la licence EUPL-1.2 (fichier `LICENSE`). Il s'appuie sur les composants",
        "ci-dessous, chacun sous sa propre licence, telle que ses métadonnées l'indiquent. Fichier produit par",
        "`.venv/bin/python scripts/third_party_licences.py` depuis l'environnement installé",
        f"(Python {sys.version_info.major}.{sys.version_info.minor}) : ne pas le modifier à la main.",
        "",
        f"## Dépendances Python de l'application ({len(runtime)}, directes et indirectes)",
        "",
        "| paquet | version | licence | projet |",
        "|---|---|---|---|",
        *python_rows(runtime, installed),
        "",
        f"## Outils de test et de développement (`pilotis[dev]`, non distribués : {len(dev)})",
        "",
        "| paquet | version | licence | projet |",
        "|---|---|---|---|",
        *python_rows(dev, installed),
        "",
        "## Fichiers front-end",
        "",
        "Les fichiers de `static/` (`css/pilotis.css`, `css/report.css`, `img/favicon.svg`, `js/survey.js`)",
        "sont écrits pour Pilotis (EUPL-1.2) : aucun fichier tiers n'y est embarqué. Les paquets npm",
        "ci-dessous servent aux tests (installés depuis le registre npm par `scripts/setup.sh`, chargés depuis",
        "le disque, jamais servis aux utilisateurs) ; axe-core joint les licences de ce qu'il embarque",
        "(`LICENSE-3RD-PARTY.txt`).",
        "",
        "| fichier ou paquet | version | licence | notices |",
        "|---|---|---|---|",
        *front_end_rows(),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("THIRD_PARTY_LICENSES.md n'est pas à jour : relancez scripts/third_party_licences.py.")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"{TARGET.name} écrit.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
