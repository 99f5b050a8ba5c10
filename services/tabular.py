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
6. **Records**: :func:`read_csv` splits them with Python's :mod:`csv` (RFC 4180 quotes): blank
   records are skipped but every record keeps the physical line it starts on; at most
   :attr:`CsvLimits.rows` records, :attr:`CsvLimits.columns` cells each (refused, or cut when
   ``truncate``), and 131 072 characters in one cell (the :mod:`csv` module's own limit,
   process-wide: never changed here). :func:`read_frame` hands the same text to pandas' C parser
   for a DataFrame of text columns (national statistics files: as fast as pandas alone, less than half the
   memory of the :mod:`csv` path), the header's width capped before and the rows after, a row
   wider than the header refused at its physical line.

Who reads what: the budget's CSV (:mod:`services.budget_files`, separator chosen by scoring the
candidate headers, cells past the 60th dropped), territorial statistics
(:mod:`services.statistics_import`, :func:`read_frame`), benchmark reference files
(:mod:`services.benchmark`, ``strict`` UTF-8, ``#`` comments).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scorecard.errors import Located, UserError

SEPARATORS: tuple[str, ...] = (";", ",", "\t")
WINDOWS_1252_NOTE = "fichier lu en Windows-1252 (il n'est pas en UTF-8) : vérifiez les accents des libellés"
LATIN_1_NOTE = "fichier lu en Latin-1 (il n'est pas en UTF-8) : vérifiez les accents des libellés"
NOT_TEXT = "ce fichier n'est pas un fichier texte CSV"
EMPTY = "fichier vide : aucune ligne"
BINARY_PROBE = 4096
_SEP_LINE = re.compile(r"\s*sep=(.)\s*")
_WIDER = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
#: What a file holding nothing else is empty of (matched from its start, never copied).
_NOTHING = re.compile(r"[\s;,\"]*")

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
    line = _first_line(text)[1]
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


def _prepare(
    content: bytes,
    limits: CsvLimits,
    *,
    strict: bool,
    separators: Sequence[str],
    choose: Callable[[str, Sequence[str]], str] | None,
    comment: str | None,
) -> tuple[str, str, str, str | None]:
    """Steps 1 to 5 of the policy: the text to split, its separator, encoding and warning."""
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
    if _NOTHING.match(text).end() == len(text):  # type: ignore[union-attr]
        raise CsvError(EMPTY)  # nothing but blanks, separators and quotes
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise CsvError(
            problems=[Located(None, line, None, "caractère nul (octet 0) : le fichier est endommagé")]
        )
    if forced:
        separator = forced.group(1)
    elif choose is not None:
        separator = choose(_head(text, 30), separators)
    else:
        separator = first_line_separator(text, separators)
    return text, separator, encoding, note


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
    text, separator, encoding, note = _prepare(
        content, limits, strict=strict, separators=separators, choose=choose, comment=comment
    )
    rows = split_records(text, separator, limits)
    if not rows:
        raise CsvError(EMPTY)
    return CsvTable(rows, separator, encoding, note, [note] if note else [])


def _head(text: str, lines: int) -> str:
    """The first ``lines`` lines of ``text`` (without copying the rest)."""
    end = -1
    for _ in range(lines):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[:end]


def _first_line(text: str) -> tuple[int, str]:
    """The number and text of the first non-blank line (the last line when all are blank)."""
    start, number = 0, 1
    while True:
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        if line.strip() or end < 0:
            return number, line
        start, number = end + 1, number + 1


def read_frame(
    content: bytes, limits: CsvLimits, *, separators: Sequence[str] = SEPARATORS
) -> tuple[Any, str | None]:
    """A CSV file as a DataFrame of text columns, and the warning of its encoding.

    Steps 1 to 5 of the policy as :func:`read_csv`; the records are then split by pandas' C parser
    (``dtype=str``, nothing read as missing, blank lines skipped: the frame's index counts the
    non-blank lines under the header), three times faster than the :mod:`csv` module on a national
    statistics file and with a third of the memory. The header's width is capped before, the rows
    after; a row wider than the header is refused at its physical line.
    """
    import pandas as pd  # imported here: the budget and benchmark imports do not pay for it

    text, separator, _encoding, note = _prepare(
        content, limits, strict=False, separators=separators, choose=None, comment=None
    )
    header_line, first = _first_line(text)
    header = next(csv.reader([first], delimiter=separator), [])
    if len(header) > limits.columns:
        raise CsvError(
            problems=[Located(None, header_line, None, f"{len(header)} colonnes ({limits.columns} au plus)")]
        )
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.ParserError as exc:
        wider = _WIDER.search(str(exc))
        if wider:
            expected, line, seen = (int(g) for g in wider.groups())
            raise CsvError(
                problems=[Located(None, line, None, f"{seen} colonnes, plus que les {expected} de l'en-tête")]
            ) from None
        if "EOF inside string" in str(exc):
            raise CsvError("un guillemet ouvert n'est jamais fermé (fichier tronqué ?)") from None
        raise CsvError(f"fichier illisible comme tableau CSV ({str(exc).strip()})") from None
    except (csv.Error, ValueError) as exc:
        raise CsvError(f"fichier illisible comme tableau CSV ({exc})") from None
    if len(frame) > limits.rows:
        raise CsvError(f"{limits.label} trop long : {limits.rows} lignes au plus")
    return frame, note
