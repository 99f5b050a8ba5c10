"""Reading uploaded Excel workbooks safely (RELIABILITY.md, trap 4).

Before openpyxl parses anything: the file must be a zip of reasonable size, entry count,
uncompressed size and compression ratio, with no macros and no DTD (entities); defusedxml is
installed so openpyxl refuses entity tricks as well. Rows and columns are capped.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from openpyxl import load_workbook

from scorecard.errors import Located as Located
from scorecard.errors import UserError

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 200
MAX_RATIO = 100
MAX_ROWS = 5_000
MAX_COLUMNS = 30


class WorkbookError(UserError):
    """The file is refused as a whole; the message says why, in French."""


def check_archive(content: bytes) -> None:
    """Refuse what is not a plain, reasonable .xlsx before any XML is parsed."""
    if len(content) > MAX_FILE_BYTES:
        raise WorkbookError(f"fichier trop volumineux ({len(content) / 2**20:.1f} Mo ; 5 Mo au plus)")
    if not zipfile.is_zipfile(io.BytesIO(content)):
        raise WorkbookError("ce fichier n'est pas un classeur Excel (.xlsx)")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise WorkbookError(f"classeur anormal : {len(entries)} éléments internes")
        total = sum(e.file_size for e in entries)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise WorkbookError(f"classeur trop volumineux une fois décompressé ({total / 2**20:.0f} Mo)")
        compressed = sum(e.compress_size for e in entries) or 1
        if total / compressed > MAX_RATIO:
            raise WorkbookError("classeur anormalement compressé (possible « bombe zip ») : refusé")
        names = {e.filename.lower() for e in entries}
        if "[content_types].xml" not in names or not any(n.startswith("xl/workbook") for n in names):
            raise WorkbookError("ce fichier n'est pas un classeur Excel (.xlsx)")
        if any("vbaproject" in n for n in names):
            raise WorkbookError("les classeurs contenant des macros sont refusés : enregistrez-le en .xlsx")
        for entry in entries:
            if entry.filename.endswith(".xml") and entry.file_size:
                with archive.open(entry) as handle:
                    head = handle.read(2048).upper()
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    raise WorkbookError("classeur refusé : il contient une déclaration XML (DTD) interdite")


def open_workbook(content: bytes) -> Any:
    """The uploaded workbook, read-only, formulas kept as written (so that they can be refused),
    after :func:`check_archive`; a broken file is refused as a whole."""
    check_archive(content)
    try:
        return load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl and defusedxml raise many kinds for broken files
        raise WorkbookError(f"classeur illisible ({type(exc).__name__})") from None
