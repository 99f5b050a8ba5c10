"""Reading uploaded Excel workbooks safely (RELIABILITY.md, trap 4): the one way in for every
workbook import (measurements, survey answers, the organisation's model, budget exports, problem
files).

:func:`check_archive` refuses, before openpyxl parses anything, what is not a plain and
reasonable .xlsx, judged on its **real** content, not on what the zip declares:

- the file: size, a zip that opens, at most :attr:`Limits.entries` parts, no duplicate name,
  declared sizes and compression ratio;
- every part is decompressed as a stream (64 KiB at a time, never whole): its real unpacked size
  and the workbook's total are capped as they grow, and a corrupted, truncated or encrypted part
  (bad CRC, broken deflate stream) is refused as « classeur endommagé »;
- every XML part (by content, whatever its name) is parsed in the same pass by expat with no
  handler but the DTD's and no tree built: a DTD anywhere (``_rels/.rels`` included, at any
  offset) refuses the file, so entities, billion laughs and external entities never reach a
  parser, and a malformed part is refused; parts not in UTF-8 are refused;
- the same bytes are counted at C speed (``bytes.count`` on each chunk, never a Python call per
  element): elements, nesting depth (at every chunk's end: a deeper nest inside one chunk holds at
  most a few thousand elements), the length of one text run, the cells of the worksheets, the
  shared strings (and their unpacked size), and the last row a worksheet names (a row numbered
  1 048 576 would make openpyxl yield a million empty rows);
- macros, however the part is named: a macro-enabled content type (``.xlsm`` workbook, VBA
  project, Excel 4 macro sheet, ActiveX), a VBA relationship, or any part holding an OLE
  compound file (``vbaProject.bin`` renamed ``image1.png`` is still one).

:func:`open_workbook` then opens it read-only (streaming: ``iter_rows`` reads one row at a time),
and returns a :class:`Book` whose sheets turn any error openpyxl raises while reading rows (a
shared string index out of range, ``t="n"`` holding text…) into the same French refusal.
defusedxml is installed, so openpyxl refuses entity tricks as well, were one to get through.

Each reader may pass its own :class:`Limits` (the budget's exports are longer than a service's
values); the defaults bound a workbook to a few seconds and a few tens of MB of memory.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from xml.parsers import expat

from scorecard.errors import Located as Located
from scorecard.errors import UserError

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 200
MAX_RATIO = 100
MAX_ROWS = 5_000
MAX_COLUMNS = 30

CHUNK = 64 * 1024
#: The first bytes of an OLE compound file: a VBA project, an embedded object, an .xls.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Content types (and relationship types) of macros or active content, lower case.
MACRO_MARKERS = ("macroenabled", "vbaproject", "macrosheet", "activex", "ms-office.vba", "vbadata")

NOT_A_WORKBOOK = "ce fichier n'est pas un classeur Excel (.xlsx)"
MACROS = "les classeurs contenant des macros sont refusés : enregistrez-le en .xlsx"


@dataclass(frozen=True)
class Limits:
    """What a workbook may hold, in real (unpacked, counted) content."""

    file_bytes: int = MAX_FILE_BYTES
    entries: int = MAX_ENTRIES
    #: Declared and real ratio of unpacked to packed bytes, over the whole file.
    ratio: int = MAX_RATIO
    #: Real unpacked bytes of any one part, and of all of them.
    part_bytes: int = 25 * 1024 * 1024
    total_bytes: int = MAX_UNCOMPRESSED_BYTES
    #: Cells (``<c>``) of all worksheets, and the last row number a worksheet may name.
    cells: int = 200_000
    rows: int = 100_000
    #: Shared strings (``<si>``) and the real unpacked size of their part.
    shared_strings: int = 200_000
    shared_strings_bytes: int = 8 * 1024 * 1024
    #: XML elements of all parts, nesting depth, and bytes of one text run (Excel: 32 767 characters).
    elements: int = 1_000_000
    depth: int = 100
    text_bytes: int = 1024 * 1024


DEFAULT_LIMITS = Limits()


class WorkbookError(UserError):
    """The file is refused as a whole; the message says why, in French."""


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} Mo" if size >= 2**20 else f"{size / 2**10:.0f} Ko"


def _n(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def check_archive(content: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse what is not a plain, reasonable .xlsx before openpyxl parses any of it (see the module)."""
    if len(content) > limits.file_bytes:
        raise WorkbookError(
            f"fichier trop volumineux ({len(content) / 2**20:.1f} Mo ; {limits.file_bytes // 2**20} Mo au plus)"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error):
        raise WorkbookError(NOT_A_WORKBOOK) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.entries:
            raise WorkbookError(
                f"classeur anormal : {len(entries)} éléments internes ({limits.entries} au plus)"
            )
        names = [e.filename.lower() for e in entries]
        if len(set(names)) != len(names):
            raise WorkbookError("classeur anormal : deux éléments internes portent le même nom")
        if "[content_types].xml" not in names or not any(n.startswith("xl/workbook") for n in names):
            raise WorkbookError(NOT_A_WORKBOOK)
        if any("vbaproject" in n or n.endswith(".xlsm") for n in names):
            raise WorkbookError(MACROS)
        declared = sum(e.file_size for e in entries)
        if declared > limits.total_bytes:
            raise WorkbookError(f"classeur trop volumineux une fois décompressé ({_mb(declared)})")
        compressed = sum(e.compress_size for e in entries) or 1
        if declared / compressed > limits.ratio:
            raise WorkbookError("classeur anormalement compressé (possible « bombe zip ») : refusé")
        scan = _Scan(limits, compressed)
        for entry in entries:
            scan.part(archive, entry)


_ROOT = re.compile(rb"<(?![?!])(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
#: A row's number (``<row r="12"``): the only numeric ``r`` of a worksheet (cells are ``A12``),
#: searched from its literal part, in whatever order the tag's attributes come.
_ROW_NUMBER = re.compile(rb'\sr="(\d{1,12})"')
#: Tokens counted in a window that starts a few bytes before each chunk (one byte less than the
#: token: a token split between two chunks is counted once, in the second).
_CELL_TOKENS = (b"<c ", b"<c>", b":c ", b":c>")
_STRING_TOKENS = (b"<si>", b"<si ", b":si>", b":si ")


class _Scan:
    """One pass over every part of an archive, counting what it really holds (see the module).

    The counts are made on the bytes of each 64 KiB chunk (C-speed ``bytes.count``, never a Python
    call per element): elements are the ``<`` that open a tag, the depth is the running balance of
    opening and closing tags at each chunk's end (an estimate; memory is bounded by the element
    count whatever the nesting), cells are ``<c`` tags of worksheets, shared strings ``<si`` tags.
    expat parses the same bytes with no handler but the DTD's, so that a DOCTYPE anywhere and a
    malformed part are refused exactly; parts not in UTF-8 (UTF-16) are refused, which keeps the
    byte counts true."""

    def __init__(self, limits: Limits, compressed: int) -> None:
        self.limits = limits
        self.compressed = compressed
        self.total = 0
        self.cells = 0
        self.strings = 0
        self.elements = 0
        self.name = ""
        self.tail = b""

    def part(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
        self.name, self.tail = entry.filename, b""
        lower = self.name.lower()
        markers = lower == "[content_types].xml" or lower.endswith(".rels")
        size = depth = run = 0
        root = ""
        parser = None
        try:
            with archive.open(entry) as handle:
                while chunk := handle.read(CHUNK):
                    if size == 0:
                        if chunk.startswith(OLE_MAGIC):
                            raise WorkbookError(MACROS)
                        head = chunk.lstrip()
                        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:2] in (b"<\x00", b"\x00<"):
                            raise WorkbookError(f"classeur refusé : « {self.name} » n'est pas en UTF-8")
                        if head[:1] == b"<" or head[:3] == b"\xef\xbb\xbf":
                            parser = self._parser()
                            found = _ROOT.search(chunk)
                            root = found.group(1).decode("ascii", "replace") if found else ""
                    size += len(chunk)
                    self.total += len(chunk)
                    self._check_size(size, root)
                    if parser is None:
                        continue
                    parser.Parse(chunk, False)
                    depth, run = self._count(chunk, root, depth, run, markers)
                if parser is not None:
                    parser.Parse(b"", True)
        except WorkbookError:
            raise  # a ValueError itself: not a damaged part
        except expat.ExpatError as exc:
            raise WorkbookError(
                f"classeur illisible : l'élément « {self.name} » n'est pas un XML valide "
                f"(ligne {exc.lineno}, {expat.ErrorString(exc.code)})"
            ) from None
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
            RuntimeError,
        ):
            # a bad CRC, a broken or truncated deflate stream, an encrypted or unknown compression
            raise WorkbookError(
                f"classeur endommagé : l'élément « {self.name} » est illisible ; ré-enregistrez-le dans Excel"
            ) from None

    def _count(self, chunk: bytes, root: str, depth: int, run: int, markers: bool) -> tuple[int, int]:
        """The counts of one chunk of an XML part; the depth and the text run carried to the next."""
        limits = self.limits
        tail, self.tail = self.tail, chunk[-24:]
        pairs = tail[-1:] + chunk
        opening = chunk.count(b"<")
        closing = pairs.count(b"</")
        special = pairs.count(b"<?") + pairs.count(b"<!")
        self.elements += opening - closing - special
        if self.elements > limits.elements:
            raise WorkbookError(f"classeur anormal : plus de {_n(limits.elements)} éléments XML")
        depth += opening - 2 * closing - special - pairs.count(b"/>")
        if depth > limits.depth:
            raise WorkbookError(
                f"classeur refusé : « {self.name} » imbrique plus de {limits.depth} niveaux d'éléments XML"
            )
        first = chunk.find(b"<")
        if first < 0:
            run += len(chunk)
        else:
            run += first
            if run <= limits.text_bytes:
                run = len(chunk) - chunk.rfind(b"<") - 1
        if run > limits.text_bytes:
            raise WorkbookError(
                f"classeur refusé : un texte de « {self.name} » dépasse {_mb(limits.text_bytes)}"
            )
        if root == "worksheet":
            window = tail[-2:] + chunk
            self.cells += sum(window.count(token) for token in _CELL_TOKENS)
            if self.cells > limits.cells:
                raise WorkbookError(f"classeur trop grand : plus de {_n(limits.cells)} cellules")
            last = max(map(int, _ROW_NUMBER.findall(tail + chunk)), default=0)
            if last > limits.rows:
                raise WorkbookError(
                    f"classeur trop long : ligne {_n(last)} ({_n(limits.rows)} lignes au plus)"
                )
        elif root == "sst":
            window = tail[-3:] + chunk
            self.strings += sum(window.count(token) for token in _STRING_TOKENS)
            if self.strings > limits.shared_strings:
                raise WorkbookError(f"classeur trop grand : plus de {_n(limits.shared_strings)} textes")
        if markers:
            lowered = (tail + chunk).lower()
            if any(m.encode() in lowered for m in MACRO_MARKERS):
                raise WorkbookError(MACROS)
        return depth, run

    def _check_size(self, size: int, root: str) -> None:
        limits = self.limits
        if size > limits.part_bytes:
            raise WorkbookError(
                f"classeur trop volumineux une fois décompressé (« {self.name} » dépasse {_mb(limits.part_bytes)})"
            )
        if root == "sst" and size > limits.shared_strings_bytes:
            raise WorkbookError(
                f"classeur refusé : ses textes partagés dépassent {_mb(limits.shared_strings_bytes)} une fois "
                "décompressés"
            )
        if self.total > limits.total_bytes:
            raise WorkbookError(
                f"classeur trop volumineux une fois décompressé (plus de {_mb(limits.total_bytes)})"
            )
        if self.total / self.compressed > limits.ratio:
            raise WorkbookError("classeur anormalement compressé (possible « bombe zip ») : refusé")

    def _parser(self) -> Any:
        parser = expat.ParserCreate()
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._doctype
        return parser

    def _doctype(self, *_: object) -> None:
        raise WorkbookError(
            f"classeur refusé : l'élément « {self.name} » contient une déclaration XML (DTD) interdite"
        )


class Sheet:
    """A read-only worksheet whose rows are read one at a time; any error reading them is a refusal."""

    def __init__(self, sheet: Any) -> None:
        self._sheet = sheet
        self.title: str = sheet.title

    def iter_rows(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = self._sheet.iter_rows(*args, **kwargs)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception:  # openpyxl raises many kinds for a cell it cannot read
                raise WorkbookError(
                    f"classeur illisible : une case de la feuille « {self.title} » ne se lit pas "
                    "(classeur endommagé) ; ré-enregistrez-le dans Excel"
                ) from None
            yield row


class Book:
    """The opened workbook: its sheet names, its :class:`Sheet` by name, :meth:`close`."""

    def __init__(self, book: Any) -> None:
        self._book = book
        self.sheetnames: list[str] = list(book.sheetnames)

    def __getitem__(self, name: str) -> Sheet:
        return Sheet(self._book[name])

    @property
    def worksheets(self) -> list[Sheet]:
        return [Sheet(s) for s in self._book.worksheets]

    def close(self) -> None:
        self._book.close()

    def __enter__(self) -> Book:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_workbook(content: bytes, *, data_only: bool = False, limits: Limits = DEFAULT_LIMITS) -> Book:
    """The uploaded workbook, read-only, after :func:`check_archive`; a broken file is refused as a
    whole. Formulas are kept as written (so that they can be refused) unless ``data_only``, which
    reads the values Excel cached for them (finance exports)."""
    check_archive(content, limits)
    from openpyxl import load_workbook  # imported here: CSV imports do not pay for it

    try:
        return Book(load_workbook(io.BytesIO(content), read_only=True, data_only=data_only))
    except Exception as exc:  # openpyxl and defusedxml raise many kinds for broken files
        raise WorkbookError(f"classeur illisible ({type(exc).__name__})") from None


def larger(**changes: int) -> Limits:
    """The default limits with some raised (or lowered), for a reader whose files are larger."""
    return replace(DEFAULT_LIMITS, **changes)
