"""The one CSV reader of every import (budget files, territorial statistics, benchmark references).

Workbooks are read by :mod:`services.workbooks`; this module is its twin for text tables, and every
refusal is a :class:`CsvError` (a :class:`~scorecard.errors.UserError`) whose problems are
:class:`~scorecard.errors.Located` (``ligne 14, colonne 3 : …``), which each import turns into its
own error type.

Policy, in this order (:func:`read_csv`):

1. **Size**: at most :attr:`CsvLimits.bytes`; an empty file (or one holding only a byte-order
   mark, blanks or comments) is refused as « fichier vide ».
2. **Binary**: a NUL byte in the first 4 KiB means a binary file (an .xlsx, a PDF, UTF-16 text
   from Excel's « Texte Unicode ») and refuses it; a NUL further on is refused at its line.
3. **Encoding**: UTF-8, with or without a byte-order mark (dropped); else Windows-1252, the
   encoding of files saved by Excel on Windows and of several INSEE bases, **with a warning**
   (:attr:`CsvTable.note`: check the accents); else Latin-1 (which decodes any byte) for the five
   bytes Windows-1252 leaves undefined, with the same warning. ``strict=True`` (files that Pilotis
   exchanges, such as benchmark references) accepts UTF-8 only and locates the first bad byte.
4. **Lines**: the physical lines are counted before any parsing (a fast byte count) and capped
   (:attr:`CsvLimits.lines`), so that a ten-million-line file is refused in milliseconds.
5. **Separator**: a first line ``sep=;`` (Excel's convention) names it; else ``;``, ``,`` or tab,
   whichever the first non-blank line holds most of (``;`` on a tie: the French default), or the
   caller's own rule (``choose``: the budget scores candidate headers).
6. **Records**: Python's :mod:`csv` (RFC 4180 quotes); blank records are skipped but every
   record keeps the physical line it starts on; at most :attr:`CsvLimits.rows` records,
   :attr:`CsvLimits.columns` cells each (refused, or cut when ``truncate``), and 131 072
   characters in one cell (the :mod:`csv` module's own limit, process-wide: never changed here).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scorecard.errors import Located, UserError

SEPARATORS: tuple[str, ...] = (";", ",", "\t")
WINDOWS_1252_NOTE = "fichier lu en Windows-1252 (il n'est pas en UTF-8) : vérifiez les accents des libellés"
LATIN_1_NOTE = "fichier lu en Latin-1 (il n'est pas en UTF-8) : vérifiez les accents des libellés"
NOT_TEXT = "ce fichier n'est pas un fichier texte CSV"
EMPTY = "fichier vide : aucune ligne"
BINARY_PROBE = 4096
_SEP_LINE = re.compile(r"\s*sep=(.)\s*")

#: A record: the physical line it starts on, and its cells.
Record = tuple[int, list[str]]


class CsvError(UserError):
    """A CSV file refused as a whole; its problems are located (line, column) where they can be."""


@dataclass(frozen=True)
class CsvLimits:
    bytes: int
    #: Physical lines (newlines counted before parsing) and non-blank records.
    lines: int
    rows: int
    #: Cells per record; beyond it the file is refused, or the extra cells dropped when ``truncate``.
    columns: int
    truncate: bool = False
    #: What the file is called in messages about its size.
    label: str = "fichier"


@dataclass
class CsvTable:
    rows: list[Record]
    separator: str
    encoding: str
    #: A French warning when the file was not read as UTF-8.
    note: str | None = None
    notes: list[str] = field(default_factory=list)


def _size(size: int) -> str:
    return f"{size / 2**20:.0f} Mo" if size >= 2**20 else f"{size / 2**10:.0f} Ko"


def decode(content: bytes, *, strict: bool = False) -> tuple[str, str, str | None]:
    """The text of ``content``, its encoding, and a warning when it is not UTF-8 (see the module)."""
    probe = content[:BINARY_PROBE]
    if b"\x00" in probe:
        hint = (
            " (texte UTF-16 : enregistrez-le en « CSV UTF-8 »)"
            if probe[:2] in (b"\xff\xfe", b"\xfe\xff")
            else ""
        )
        raise CsvError(NOT_TEXT + hint)
    try:
        return content.decode("utf-8-sig"), "utf-8", None
    except UnicodeDecodeError as exc:
        if strict:
            raise CsvError(f"le fichier n'est pas en UTF-8 (octet {exc.start + 1})") from None
    try:
        return content.decode("cp1252"), "cp1252", WINDOWS_1252_NOTE
    except UnicodeDecodeError:
        return content.decode("latin-1"), "latin-1", LATIN_1_NOTE


def first_line_separator(text: str, candidates: Sequence[str] = SEPARATORS) -> str:
    """The candidate the first non-blank line holds most of; the first candidate on a tie."""
    line = next((ln for ln in text.split("\n", 50) if ln.strip()), "")
    return max(candidates, key=lambda c: (line.count(c), -candidates.index(c)))


def split_records(text: str, separator: str, limits: CsvLimits) -> list[Record]:
    """The non-blank records of ``text`` with the physical line each starts on (see the module)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows: list[Record] = []
    last = 0
    try:
        for record in reader:
            start, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > limits.columns:
                if not limits.truncate:
                    raise CsvError(
                        problems=[
                            Located(None, start, None, f"{len(record)} colonnes ({limits.columns} au plus)")
                        ]
                    )
                record = record[: limits.columns]
            rows.append((start, record))
            if len(rows) > limits.rows:
                raise CsvError(f"{limits.label} trop long : {limits.rows} lignes au plus")
    except csv.Error as exc:
        line = reader.line_num or last + 1
        if "field larger than field limit" in str(exc):
            message = f"une case dépasse {csv.field_size_limit()} caractères"
        else:
            message = f"fichier illisible comme tableau CSV ({exc})"
        raise CsvError(problems=[Located(None, line, None, message)]) from None
    return rows


def read_csv(
    content: bytes,
    limits: CsvLimits,
    *,
    strict: bool = False,
    separators: Sequence[str] = SEPARATORS,
    choose: Callable[[str, Sequence[str]], str] | None = None,
    comment: str | None = None,
) -> CsvTable:
    """The records of a CSV file, every refusal a located :class:`CsvError` (policy: see the module).

    ``choose(head, candidates)`` picks the separator from the first lines instead of
    :func:`first_line_separator`; lines starting with ``comment`` are blank (their numbers kept).
    """
    if len(content) > limits.bytes:
        raise CsvError(
            f"{limits.label} trop volumineux ({_size(len(content))} ; {_size(limits.bytes)} au plus)"
        )
    lines = content.count(b"\n") + 1
    if lines > limits.lines:
        raise CsvError(f"{limits.label} trop long : {lines} lignes ({limits.lines} au plus)")
    text, encoding, note = decode(content, strict=strict)
    first, newline, rest = text.partition("\n")
    forced = _SEP_LINE.fullmatch(first)
    if forced:
        text = newline + rest  # the line stays, blank: physical line numbers are kept
    if comment is not None:
        text = "\n".join("" if ln.lstrip().startswith(comment) else ln for ln in text.split("\n"))
    if not text.strip():
        raise CsvError(EMPTY)
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise CsvError(
            problems=[Located(None, line, None, "caractère nul (octet 0) : le fichier est endommagé")]
        )
    if forced:
        separator = forced.group(1)
    elif choose is not None:
        separator = choose("\n".join(text.split("\n", 30)[:30]), separators)
    else:
        separator = first_line_separator(text, separators)
    rows = split_records(text, separator, limits)
    if not rows:
        raise CsvError(EMPTY)
    return CsvTable(rows, separator, encoding, note, [note] if note else [])
