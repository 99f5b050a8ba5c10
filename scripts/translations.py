"""Maintain the English catalogue: extract, update, compile.

    .venv/bin/python scripts/translations.py      # after changing a translatable string

The source language is French (the interface's default); ``translations/en`` holds English.
The compiled ``.mo`` is committed, and a test checks it matches the ``.po``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> None:
    pot = ROOT / "translations" / "messages.pot"
    subprocess.run(
        [
            BIN / "pybabel",
            "extract",
            "-F",
            ROOT / "babel.cfg",
            "-k",
            "_l",
            "--no-location",
            "--omit-header",
            "-o",
            pot,
            ROOT,
        ],
        check=True,
    )
    subprocess.run(
        [BIN / "pybabel", "update", "-i", pot, "-d", ROOT / "translations", "--no-fuzzy-matching"], check=True
    )
    subprocess.run([BIN / "pybabel", "compile", "-d", ROOT / "translations", "--statistics"], check=True)


if __name__ == "__main__":
    main()
