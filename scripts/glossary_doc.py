"""Write docs/glossaire.md from services/data/glossary.toml (the glossary's one source).

.venv/bin/python scripts/glossary_doc.py          # writes the file
.venv/bin/python scripts/glossary_doc.py --check  # exit 1 if the file is not up to date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.glossary import markdown

TARGET = Path(__file__).resolve().parents[1] / "docs" / "glossaire.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="vérifier sans écrire")
    args = parser.parse_args(argv)
    text = markdown()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} n'est pas à jour : lancez scripts/glossary_doc.py.", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"{TARGET} écrit ({text.count('## ')} entrées).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
