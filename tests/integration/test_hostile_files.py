"""Hostile files through the real upload paths (issue 22, item 3): each refused with a French
message, nothing written, and within a generous time and memory bound.

The files are built once per module from a tiny valid workbook; the bombs are small compressed
payloads (a stored part of random bytes keeps the compression ratio plausible, so that the checks
on *real* content are the ones that refuse them, not the ratio of declared sizes). The bound is a
check, not a benchmark: wall time under :data:`MAX_SECONDS` and the peak of Python allocations
(tracemalloc) under :data:`MAX_MB` for the work alone (the input is built before).
"""

from __future__ import annotations

import functools
import io
import os
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Base, Organisation, Role, User
from models.base import utcnow
from scorecard.errors import UserError
from tests.integration.test_measurement_import import edited, run
from tests.integration.test_measurement_import import setting as setting  # the fixture

MAX_SECONDS = 5.0
MAX_MB = 100

# -- building blocks -----------------------------------------------------------------------------
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _zip(entries: dict[str, bytes], *, stored: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@functools.cache
def _base() -> dict[str, bytes]:
    """The parts of a tiny valid workbook (one sheet « Saisie », a shared string, a number)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Saisie"
    sheet["A1"], sheet["B1"] = "Code", 12
    buffer = io.BytesIO()
    book.save(buffer)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    return {i.filename: archive.read(i.filename) for i in archive.infolist()}


def _workbook(*, padding: int = 0, stored: tuple[str, ...] = (), **parts: bytes) -> bytes:
    """The base workbook with parts replaced or added (``xl__worksheets__sheet1_xml`` names
    ``xl/worksheets/sheet1.xml``); ``padding`` bytes of random data stored as an image keep the
    overall compression ratio plausible."""
    entries = dict(_base())
    for key, data in parts.items():
        entries[key.replace("__", "/").replace("_xml", ".xml").replace("_rels_", "_rels")] = data
    names = stored
    if padding:
        entries["xl/media/image1.png"] = b"\x89PNG\r\n\x1a\n" + os.urandom(padding)
        names = (*stored, "xl/media/image1.png")
    return _zip(entries, stored=names)


def _sheet(body: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="'
        + MAIN.encode()
        + b'"><sheetData>'
        + body
        + (b"</sheetData></worksheet>")
    )


def _strings(body: bytes, count: int) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="'
        + MAIN.encode()
        + f'" count="{count}" uniqueCount="{count}">'.encode()
        + body
        + b"</sst>"
    )


def _replace_in(name: str, old: bytes, new: bytes, **extra: Any) -> bytes:
    entries = dict(_base())
    assert old in entries[name], (name, entries[name][:300])
    entries[name] = entries[name].replace(old, new, 1)
    return _zip({**entries, **extra})


def _content_types(add: bytes) -> bytes:
    return _replace_in("[Content_Types].xml", b"</Types>", add + b"</Types>")


def _corrupted() -> bytes:
    """A stored sheet whose bytes were changed after its CRC was written."""
    data = _zip(dict(_base()), stored=("xl/worksheets/sheet1.xml",))
    at = data.index(b"<sheetData>")
    return data[:at] + b"<sheetDatb>" + data[at + len(b"<sheetData>") :]


def _encrypted() -> bytes:
    """The sheet flagged as encrypted in both headers (zipfile then asks for a password)."""
    name = b"xl/worksheets/sheet1.xml"
    data = bytearray(_zip(dict(_base())))
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name.decode()).header_offset
    central = _central_record(data, name)
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    return bytes(data)


def _central_record(data: bytearray, name: bytes) -> int:
    """The offset of the central directory record of ``name``."""
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 1)
    return central


def _shared_strings(cell: bytes) -> bytes:
    """The base workbook with a shared strings part (one string) and ``cell`` as its first cell."""
    entries = dict(_base())
    entries["xl/sharedStrings.xml"] = _strings(b"<si><t>Code</t></si>", 1)
    entries["[Content_Types].xml"] = entries["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    sheet = entries["xl/worksheets/sheet1.xml"]
    at = sheet.index(b'<c r="A1"')
    entries["xl/worksheets/sheet1.xml"] = sheet[:at] + cell + sheet[sheet.index(b"</c>", at) + 4 :]
    return _zip(entries)


def _broken_deflate() -> bytes:
    """A deflated sheet whose compressed stream is garbage from its middle on."""
    data = bytearray(_zip(dict(_base())))
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("xl/worksheets/sheet1.xml")
    header = struct.unpack("<4s5H3L2H", data[info.header_offset : info.header_offset + 30])
    start = info.header_offset + 30 + header[9] + header[10]
    for i in range(start + 20, start + info.compress_size - 4):
        data[i] = 0xFF
    return bytes(data)


def _lying_size() -> bytes:
    """The zip says the sheet unpacks to 100 bytes (both headers); it unpacks to 2 MB."""
    name = b"xl/worksheets/sheet1.xml"
    entries = dict(_base())
    entries[name.decode()] = _sheet(b'<row r="1"><c r="A1"><v>1</v></c></row>' + b" " * (2 << 20))
    data = bytearray(_zip(entries))
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name.decode()).header_offset
    central = _central_record(data, name)
    struct.pack_into("<L", data, central + 24, 100)
    struct.pack_into("<L", data, local + 22, 100)
    return bytes(data)


def _csv_rows(count: int) -> bytes:
    """A CSV of ``count`` lines, built by repetition (the test decompresses nothing: bytes * n)."""
    return b"CODGEO;P21_POP\n" + b"1\n" * count


# -- the hostile files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    id: str
    target: str
    build: Callable[[], bytes]
    message: str
    filename: str = "fichier.xlsx"


DEEP = b"<a>" * 100_000 + b"</a>" * 100_000
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><worksheet xmlns="'
    + MAIN.encode()
    + b'"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)


def _without_declaration(xml: bytes) -> bytes:
    return xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml


def _rels_dtd() -> bytes:
    """A DTD after 4 KB of comment in ``_rels/.rels`` (the old check read the first 2 KB only)."""
    return (
        b'<?xml version="1.0"?><!--'
        + b" " * 4096
        + b'-->\n<!DOCTYPE r [<!ENTITY x "y">]>'
        + _without_declaration(_base()["_rels/.rels"])
    )


def _external() -> bytes:
    workbook = _without_declaration(_base()["xl/workbook.xml"]).replace(b'name="Saisie"', b'name="&xxe;"')
    return b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + workbook


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b'Attribute VB_Name = "Module1"'
VBA_TYPE = b"application/vnd.ms-office.vbaProject"
XLSM_TYPE = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"

WORKBOOK_KINDS = [
    Kind(
        "shared-strings-by-size",
        "measurements",
        lambda: _workbook(
            xl__sharedStrings_xml=_strings((b"<si><t>" + b"y" * 30_000 + b"</t></si>") * 300, 300),
            padding=150_000,
        ),
        "textes partagés",
    ),
    Kind(
        "shared-strings-by-count",
        "model",
        lambda: _workbook(
            xl__sharedStrings_xml=_strings(b"<si><t>a</t></si>" * 200_001, 200_001), padding=60_000
        ),
        "plus de 200 000 textes",
    ),
    Kind(
        "sheet-xml-cells",
        "survey",
        lambda: _workbook(
            xl__worksheets__sheet1_xml=_sheet(b'<row r="1">' + b"<c><v>1</v></c>" * 200_001 + b"</row>"),
            padding=40_000,
        ),
        "plus de 200 000 cellules",
    ),
    Kind(
        "sheet-xml-size",
        "budget",
        lambda: _workbook(
            xl__worksheets__sheet1_xml=_sheet(
                b'<row r="1"><c r="A1"><v>1</v></c></row>' + b"<!-- -->" * 3_500_000
            ),
            padding=300_000,
        ),
        "dépasse 25 Mo",
    ),
    Kind(
        "many-small-parts",
        "measurements",
        lambda: _zip({**_base(), **{f"xl/media/p{i}.xml": b"<p/>" for i in range(250)}}),
        "éléments internes",
    ),
    Kind(
        "many-elements",
        "measurements",
        lambda: _workbook(xl__worksheets__sheet2_xml=_sheet(b"<x/>" * 1_000_001), padding=45_000),
        "éléments XML",
    ),
    Kind(
        "deep-nesting",
        "model",
        lambda: _workbook(xl__worksheets__sheet1_xml=_sheet(DEEP), padding=20_000),
        "imbrique plus de 100",
    ),
    Kind("billion-laughs", "measurements", lambda: _workbook(xl__worksheets__sheet1_xml=LAUGHS), "DTD"),
    Kind("dtd-in-rels", "survey", lambda: _workbook(**{"_rels_/.rels": _rels_dtd()}), "DTD"),
    Kind("external-entity", "budget", lambda: _workbook(xl__workbook_xml=_external()), "DTD"),
    Kind(
        "vba-renamed-as-image",
        "measurements",
        lambda: _zip({**_base(), "xl/media/image7.png": OLE}),
        "macros",
    ),
    Kind(
        "vba-content-type",
        "model",
        lambda: _content_types(b'<Override PartName="/xl/code.dat" ContentType="' + VBA_TYPE + b'"/>'),
        "macros",
    ),
    Kind(
        "vba-default-bin",
        "problem",
        lambda: _content_types(b'<Default Extension="bin" ContentType="' + VBA_TYPE + b'"/>'),
        "macros",
    ),
    Kind(
        "xlsm-content-type",
        "survey",
        lambda: _replace_in(
            "[Content_Types].xml",
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            XLSM_TYPE,
        ),
        "macros",
    ),
    Kind(
        "macro-sheet-xlm",
        "budget",
        lambda: _content_types(
            b'<Override PartName="/xl/macrosheets/sheet1.xml" ContentType="application/vnd.ms-excel.macrosheet+xml"/>'
        ),
        "macros",
    ),
    Kind(
        "vba-relationship",
        "measurements",
        lambda: _replace_in(
            "xl/_rels/workbook.xml.rels",
            b"</Relationships>",
            b'<Relationship Id="rId99" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"'
            b' Target="code.dat"/></Relationships>',
        ),
        "macros",
    ),
    Kind("corrupted-entry-crc", "model", _corrupted, "endommagé"),
    Kind("corrupted-entry-deflate", "measurements", _broken_deflate, "endommagé"),
    Kind("encrypted-entry", "problem", _encrypted, "endommagé"),
    Kind("lying-declared-size", "survey", _lying_size, "endommagé"),
    Kind("truncated-zip", "measurements", lambda: _zip(dict(_base()))[:1500], "pas un classeur Excel"),
    Kind("not-a-zip", "model", lambda: b"Ceci est un texte, pas un classeur.", "pas un classeur Excel"),
    Kind("empty-workbook-file", "survey", lambda: b"", "pas un classeur Excel"),
    Kind(
        "declared-zip-bomb",
        "measurements",
        lambda: _zip({**_base(), "xl/bomb.xml": b"0" * (30 << 20)}),
        "anormalement compressé",
    ),
    Kind(
        "huge-single-cell",
        "model",
        lambda: _workbook(
            xl__worksheets__sheet1_xml=_sheet(
                b'<row r="1"><c r="A1" t="inlineStr"><is><t>' + b"z" * (3 << 20) + b"</t></is></c></row>"
            ),
            padding=60_000,
        ),
        "dépasse 1 Mo",
    ),
    Kind(
        "row-number-gap",
        "budget",
        lambda: _workbook(
            xl__worksheets__sheet1_xml=_sheet(b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>')
        ),
        "ligne 1 048 576",
    ),
    Kind(
        "shared-string-out-of-range",
        "budget",
        lambda: _shared_strings(b'<c r="A1" t="s"><v>999999</v></c>'),
        "illisible",
    ),
    Kind(
        "number-cell-holding-text",
        "budget",
        lambda: _replace_in("xl/worksheets/sheet1.xml", b"<v>12</v>", b"<v>douze</v>"),
        "illisible",
    ),
    Kind(
        "malformed-xml",
        "model",
        lambda: _workbook(xl__worksheets__sheet1_xml=_sheet(b"<row><c><v>1</row>")),
        "illisible",
    ),
]


def _filosofi_head() -> bytes:
    return b"CODGEO;NBMEN19;NBPERS19\n"


CSV_KINDS = [
    Kind("csv-nul-bytes", "budget", lambda: b"a;b\n" * 2_000 + b"x;\x00y\n", "caractère nul", "budget.csv"),
    Kind("csv-binary", "statistics", lambda: b"\x00\x01\x02binary" * 10, "pas un fichier texte CSV", "s.csv"),
    Kind("csv-ten-million-rows", "statistics", lambda: _csv_rows(10_000_000), "trop long", "s.csv"),
    Kind(
        "csv-huge-single-cell",
        "budget",
        lambda: b"BGT_NATDEC;BGT_ANNEE\nBP;" + b"9" * 300_000 + b"\n",
        "une case dépasse",
        "budget.csv",
    ),
    Kind(
        "csv-unclosed-quote",
        "statistics",
        lambda: _filosofi_head() + b'11069;"12' + b"3" * 200_000 + b"\n",
        "guillemet ouvert n'est jamais fermé",
        "FILO2019_DISP_COM.csv",
    ),
    Kind(
        "csv-injection",
        "benchmark",
        lambda: (
            b"organisation;strate;indicateur;valeur;annee\n=cmd|' /C calc'!A0;20-50k;depense_hab_total;1;2024\n"
        ),
        "n'est pas un code anonyme",
        "reference.csv",
    ),
    Kind(
        "csv-utf16",
        "statistics",
        lambda: "CODGEO;P21_POP\n11069;1\n".encode("utf-16"),
        "texte UTF-16",
        "s.csv",
    ),
    Kind(
        "csv-wrong-encoding",
        "benchmark",
        lambda: "organisation;strate;indicateur;valeur;annee\n# été\n".encode("cp1252"),
        "pas en UTF-8",
        "reference.csv",
    ),
    Kind("csv-bom-only", "statistics", lambda: b"\xef\xbb\xbf", "fichier vide", "s.csv"),
    Kind("csv-empty", "statistics", lambda: b"", "fichier vide", "s.csv"),
    Kind("csv-separators-only", "statistics", lambda: b"\xef\xbb\xbf;;;\r\n;;;\r\n", "fichier vide", "s.csv"),
    Kind(
        "csv-ten-thousand-columns",
        "statistics",
        lambda: b";".join(f"C{i}".encode() for i in range(10_000)) + b"\n" + b"1;" * 9_999 + b"1\n",
        "10000 colonnes",
        "s.csv",
    ),
    Kind(
        "csv-row-wider-than-header",
        "statistics",
        lambda: _filosofi_head() + b"11069;1;2\n11070;1;2;3;4\n",
        "ligne 3 : 5 colonnes, plus que les 3 de l'en-tête",
        "FILO2019_DISP_COM.csv",
    ),
    Kind(
        "csv-year-in-other-digits",
        "benchmark",
        lambda: "organisation;strate;indicateur;valeur;annee\nR01;20-50k;depense_hab_total;1;²⁰²⁴\n".encode(),
        "n'est pas une année",
        "reference.csv",
    ),
    Kind("xls-as-budget", "budget", lambda: OLE + b"\x00" * 1000, "Excel 97-2003", "budget.xls"),
    Kind(
        "xlsx-as-statistics", "statistics", lambda: _zip(dict(_base())), "pas un fichier texte CSV", "s.csv"
    ),
]

KINDS = WORKBOOK_KINDS + CSV_KINDS


@functools.cache
def _content(kind_id: str) -> bytes:
    """Each hostile file, built once for the module."""
    return next(k for k in KINDS if k.id == kind_id).build()


# -- the upload paths ------------------------------------------------------------------------------
def _direction(session: Session, organisation_id: int) -> Any:
    from services.policy import Principal

    return Principal(user_id=0, organisation_id=organisation_id, role=Role.DIRECTION, service_ids=frozenset())


def _manager(session: Session) -> Any:
    from services.policy import Principal

    user = session.scalar(select(User).where(User.email == "responsable.seniors@carcassonne.pilotis.example"))
    return Principal.of(user)


def _upload(
    target: str, session: Session, organisation_id: int, content: bytes, filename: str, tmp: Path, survey: Any
) -> Any:
    now = utcnow()
    if target == "measurements":
        from services.measurement_io import import_measurements

        return import_measurements(session, _manager(session), content, now=now)
    if target == "model":
        from services.org_model import import_model

        return import_model(session, _direction(session, organisation_id), content, now=now)
    if target == "survey":
        from services.survey_io import import_workbook

        return import_workbook(session, survey, content, user_id=None, today=now.date())
    if target == "budget":
        from services.budget import import_budget

        return import_budget(session, organisation_id, content, filename, now=now)
    if target == "statistics":
        from services.statistics_import import import_statistics

        return import_statistics(session, organisation_id, content, source="census", filename=filename)
    if target == "benchmark":
        from services.benchmark import import_reference

        return import_reference(tmp, content, filename)
    if target == "problem":
        from services.problem_files import read_problem_xlsx

        return read_problem_xlsx(content, name=filename)
    raise AssertionError(target)


def _rows(session: Session) -> dict[str, int]:
    session.flush()
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def _refusal(outcome: Any) -> str:
    """The French refusal a call came back with (its located errors), or fails."""
    errors = getattr(outcome, "errors", None)
    assert errors, f"accepted: {outcome!r}"
    return " | ".join(str(e) for e in errors)


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
def test_a_hostile_file_is_refused_in_french_with_nothing_written(kind, db_session, demo, tmp_path):
    content = _content(kind.id)
    survey = None
    if kind.target == "survey":  # a published survey to import answers into, made before counting
        from tests.integration import test_survey_io as T

        survey = T.build(db_session).survey
    before = _rows(db_session)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            outcome = _upload(
                kind.target, db_session, demo.organisation_id, content, kind.filename, tmp_path, survey
            )
        except UserError as exc:
            message = " | ".join(exc.messages)
        else:
            message = _refusal(outcome)
        elapsed = time.perf_counter() - started
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kind.message in message, message
    assert "Traceback" not in message and " object " not in message, message
    assert _rows(db_session) == before
    assert not list(tmp_path.rglob("*.csv")), "a benchmark reference was stored"
    assert elapsed < MAX_SECONDS, f"{elapsed:.1f} s"
    assert peak < MAX_MB * 2**20, f"{peak / 2**20:.0f} Mo"


def test_the_kinds_are_forty_and_more():
    assert len(KINDS) >= 40 and len({k.id for k in KINDS}) == len(KINDS)


def test_an_id_beyond_64_bits_nan_or_infinite_is_refused_where_it_is(db_session, demo):
    """Bug: 2^63 in a whole-number column of the model workbook reached the database (a 500); the
    column is a 32-bit INTEGER on PostgreSQL, so 2^31 did too. Each value on its own row, one import."""
    from openpyxl import load_workbook

    from services.org_model import import_model, model_workbook

    org = db_session.get(Organisation, demo.organisation_id)
    assert org is not None
    # openpyxl writes no cell for a float NaN or infinity: those come as text, as a user types them
    values = (
        2**31,
        2**63,
        2**64 + 1,
        -(2**63) - 1,
        "9223372036854775808",
        "NaN",
        "inf",
        "-Infinity",
        "1e400",
    )
    book = load_workbook(io.BytesIO(model_workbook(db_session, org, now=utcnow())))
    sheet = book["Activités"]
    column = [c.value for c in sheet[1]].index("Bénéficiaires") + 1
    assert sheet.max_row > len(values)
    for row, value in enumerate(values, start=2):
        sheet.cell(row=row, column=column).value = value
    buffer = io.BytesIO()
    book.save(buffer)
    before = _rows(db_session)
    report = import_model(db_session, _direction(db_session, org.id), buffer.getvalue(), now=utcnow())
    located = {(e.sheet, e.row, e.column) for e in report.errors}
    assert located == {("Activités", row, "Bénéficiaires") for row in range(2, len(values) + 2)}, (
        report.errors
    )
    assert _rows(db_session) == before


def test_a_formula_cell_is_refused_where_it_is(setting):
    before = _rows(setting["session"])
    content = edited(setting["template"], F4='=HYPERLINK("http://x","clic")', F5="=cmd|' /C calc'!A0")
    report = run(setting, content)
    text = _refusal(report)
    assert (
        "ligne 4, colonne « Valeur » : formule refusée" in text and "ligne 5, colonne « Valeur »" in text
    ), text
    assert report.saved == 0 and _rows(setting["session"]) == before


# -- a few through the pages, signed in ---------------------------------------------------------
WEB = [
    ("responsable.seniors", "/saisie/excel/depot", "shared-strings-by-count", "saisie.xlsx", {}),
    ("finances", "/couts/import", "csv-nul-bytes", "budget.csv", {"mapping": "", "nomenclature": ""}),
    ("direction", "/statistiques/import", "csv-empty", "stats.csv", {"source": "census"}),
    ("direction", "/modele/", "dtd-in-rels", "modele.xlsx", {}),
    ("direction", "/modele/", "corrupted-entry-crc", "modele.xlsx", {}),
]


def _table_rows(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name not in ("login_failures", "users", "sessions")  # signing in writes these
        }


@pytest.mark.parametrize(
    ("login", "url", "kind_id", "filename", "fields"), WEB, ids=[f"{w[1]}-{w[2]}" for w in WEB]
)
def test_a_hostile_upload_through_the_page_gets_the_french_refusal(
    login_as, engine, login, url, kind_id, filename, fields
):
    import html

    from tests.conftest import csrf_token

    kind = next(k for k in KINDS if k.id == kind_id)
    client = login_as(login)
    token = csrf_token(client.get(url).get_data(as_text=True))
    content = _content(kind_id)
    before = _table_rows(engine)
    started = time.perf_counter()
    response = client.post(
        url,
        data={"csrf_token": token, **fields, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )
    elapsed = time.perf_counter() - started
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400, page[:500]
    assert kind.message in page, page[page.find("<main") :][:1500]
    assert "Traceback" not in page
    assert _table_rows(engine) == before
    assert elapsed < MAX_SECONDS, f"{elapsed:.1f} s"
