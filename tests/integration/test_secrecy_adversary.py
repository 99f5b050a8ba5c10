"""An adversary who reads everything the organisation publishes, in every role, and tries to solve
for each masked count by differencing: it must find none.

The scenario (the issue's): IRIS 110690801 has 7 RSA recipients (masked by Pilotis' threshold);
IRIS 110690601 is secret at source, while the CAF commune file, imported too, gives the commune
total that includes it (12 recipients there: a figure Pilotis itself never holds).

What the adversary reads (HTML pages and the files, never the PDF): the ABS report page (IRIS
table and its total), its Excel annex (portrait, IRIS, needs, coverage by public with "cases
secrètes exclues"), the needs register, each RSA need's page (the activity's share and persons),
the coherence page (matrix sizes), its Excel export and the JSON of ``pilotis coherence``.
What it knows: the IRIS add up to the commune; an RSA need is its IRIS' count; a matrix cell of
the RSA public is its IRIS' need; the coverage by public sums the cells it does not show as
secret; the département's RSA referents (unlocated, no explicit share) share their output among
the RSA needs of known size pro rata: share_n = size_n / W, with W the sum of those sizes.
Unknowns: the RSA count of every IRIS it does not see, and W. A masked count is recovered when
its unknown is determined by the equations (a rank test).
"""

from __future__ import annotations

import json
import re
from io import BytesIO

import numpy as np
import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from models import Need, Territory, TerritoryKind, TerritoryStatistic
from pilotis.database import write_session
from services.needs import resize_needs
from tests.conftest import DEMO_COMMUNE

SMALL_IRIS, SMALL = "110690801", 7.0
SECRET_IRIS, SECRET_TRUTH = "110690601", 12.0
REFERENTS = "Référents RSA départementaux"
ROLES = ["direction", "elu", "partenaire", "finances", "responsable.seniors", "admin"]


@pytest.fixture
def scenario(engine, demo):
    """The small count and the commune total, committed for the pages; undone afterwards."""
    with write_session(engine) as session:
        org = demo.organisation_id
        small = _stat(session, org, SMALL_IRIS)
        before = small.value
        small.value = SMALL
        commune = session.scalar(
            select(Territory).where(Territory.organisation_id == org, Territory.code == DEMO_COMMUNE)
        )
        iris = session.scalars(
            select(TerritoryStatistic)
            .join(Territory, Territory.id == TerritoryStatistic.territory_id)
            .where(
                TerritoryStatistic.organisation_id == org,
                Territory.kind == TerritoryKind.IRIS,
                TerritoryStatistic.variable == "caf_rsa_socle",
            )
        ).all()
        total = sum(s.value or 0 for s in iris if not s.is_secret) + SECRET_TRUTH
        session.add(
            TerritoryStatistic(
                organisation_id=org,
                territory_id=commune.id,
                variable="caf_rsa_socle",
                label="RSA socle",
                unit="allocataires",
                vintage=small.vintage,
                source="CNAF",
                value=total,
            )
        )
        session.flush()
        resize_needs(session, org)
        truth = {s.territory.code: (SECRET_TRUTH if s.is_secret else float(s.value or 0)) for s in iris}
    yield truth
    with write_session(engine) as session:
        _stat(session, demo.organisation_id, SMALL_IRIS).value = before
        session.execute(
            delete(TerritoryStatistic).where(
                TerritoryStatistic.territory_id == commune.id, TerritoryStatistic.variable == "caf_rsa_socle"
            )
        )
        session.flush()
        resize_needs(session, demo.organisation_id)


def _stat(session, org, code):
    return session.scalar(
        select(TerritoryStatistic)
        .join(Territory, Territory.id == TerritoryStatistic.territory_id)
        .where(
            TerritoryStatistic.organisation_id == org,
            Territory.code == code,
            TerritoryStatistic.variable == "caf_rsa_socle",
        )
    )


def number(text: str) -> float | None:
    """A French number as the pages write it (``2 971``, ``12,5 %``), None for anything else."""
    cleaned = re.sub(r"<[^>]+>", "", str(text)).replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    cleaned = cleaned.replace("%", "").replace("€", "").replace(",", ".").replace("≥", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


class Adversary:
    """Linear equations over the unknown RSA count of each IRIS (``u[code]``) and ``W``."""

    def __init__(self, codes: list[str], names: dict[str, str]) -> None:
        self.codes = codes
        self.names = names  # IRIS name (matrix column, need territory) -> code
        self.known: dict[str, float] = {}
        self.rows: list[tuple[dict[str, float], float, float]] = []  # (coefficients, constant, weight)
        self.secret_at_source: set[str] = set()

    def see(self, code: str, value: float | None) -> None:
        if value is not None:
            self.known[code] = value

    def equation(self, coefficients: dict[str, float], constant: float, weight: float = 1.0) -> None:
        """``sum(k x unknown) = constant``; a rounded figure (a share in %) gets a low weight."""
        self.rows.append((coefficients, constant, weight))

    def solve(self) -> dict[str, float]:
        """The unknowns (IRIS not seen) that the equations determine, with their value."""
        unknown = [c for c in self.codes if c not in self.known] + ["W"]
        col = {c: j for j, c in enumerate(unknown)}
        a, b = [], []
        for coefficients, constant, weight in self.rows:
            row, rhs = np.zeros(len(unknown)), constant
            for name, k in coefficients.items():
                if name in col:
                    row[col[name]] += k
                else:
                    rhs -= k * self.known[name]
            if row.any():
                a.append(row * weight)
                b.append(rhs * weight)
        if not a:
            return {}
        matrix, rhs = np.array(a), np.array(b)
        rank = np.linalg.matrix_rank(matrix)
        solution = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
        found = {}
        for name, j in col.items():
            e = np.zeros((1, len(unknown)))
            e[0, j] = 1
            if name != "W" and np.linalg.matrix_rank(np.vstack([matrix, e])) == rank:
                found[name] = float(solution[j])
        return found


def collect(client, runner, adversary: Adversary, need_ids: dict[str, int], demo_slug: str) -> None:
    codes = adversary.codes
    # the ABS report page: the IRIS table (RSA column) and its total of the published IRIS
    page = client.get("/abs?annee=2027").get_data(as_text=True)
    assert "Analyse des besoins sociaux" in page
    for code in codes:
        row = re.search(rf"\({code}\)</span></th>(.*?)</tr>", page, re.S)
        if row:
            cells = re.findall(r"<td class=\"num\">(.*?)</td>", row.group(1), re.S)
            adversary.see(code, number(cells[3]))
    foot = re.search(r"<tfoot>(.*?)</tfoot>", page, re.S)
    # the annex: portrait (commune figure), IRIS sheet, needs, coverage by public
    book = load_workbook(BytesIO(client.get("/abs/annexe.xlsx?annee=2027").get_data()))
    for values in book["Portrait"].iter_rows(min_row=2, values_only=True):
        if values[1] == "Allocataires du RSA socle" and isinstance(values[2], (int, float)):
            parts = codes if values[4] != "oui" else [c for c in codes if c not in adversary.secret_at_source]
            adversary.equation(dict.fromkeys(parts, 1.0), float(values[2]))
    iris_sheet = list(book["IRIS"].iter_rows(min_row=1, values_only=True))
    rsa = list(iris_sheet[0]).index("RSA socle")
    for values in iris_sheet[1:]:
        if values[0] in codes:
            adversary.see(values[0], values[rsa] if isinstance(values[rsa], (int, float)) else None)
        if values[0] == "Total" and isinstance(values[rsa], (int, float)):
            adversary.equation(
                {c: 1.0 for c in codes if c not in adversary.secret_at_source}, float(values[rsa])
            )
    if foot is not None:
        cells = re.findall(r"<td class=\"num\">(.*?)</td>", foot.group(1), re.S)
        total = number(cells[3]) if len(cells) > 3 else None
        if total is not None:
            adversary.equation({c: 1.0 for c in codes if c not in adversary.secret_at_source}, total)
    for values in book["Besoins"].iter_rows(min_row=2, values_only=True):
        if str(values[0]).startswith("RSA_") and isinstance(values[4], (int, float)):
            adversary.see(str(values[0])[4:], float(values[4]))
    # the register and the coherence page: need sizes and matrix cells of the RSA public
    register = client.get("/besoins").get_data(as_text=True)
    for code, need_id in need_ids.items():
        row = re.search(rf'href="/besoins/{need_id}">[^<]*</a></th>(.*?)</tr>', register, re.S)
        cells = re.findall(r"<td class=\"num\">(.*?)</td>", row.group(1), re.S) if row else []
        if cells:
            adversary.see(code, number(cells[0].split("allocataires")[0]))
    coherence = client.get("/coherence").get_data(as_text=True)
    heads = re.findall(
        r'<th scope="col">(.*?)</th>', coherence.split("heatmap", 1)[1].split("</thead>", 1)[0]
    )[1:]
    line = re.search(r'<th scope="row">Bénéficiaires de minima sociaux</th>(.*?)</tr>', coherence, re.S)
    shown_cells = set()
    if line:
        for territory, cell in zip(
            heads, re.findall(r"<td[^>]*>(.*?)</td>", line.group(1), re.S), strict=False
        ):
            size = re.search(r"\(([^)]*)\)", cell)
            code = adversary.names.get(territory)
            if code and size and "secret" not in cell:
                adversary.see(code, number(size.group(1)))
                shown_cells.add(code)
    for values in book["Couverture par public"].iter_rows(min_row=2, values_only=True):
        if values[0] == "Bénéficiaires de minima sociaux" and isinstance(values[1], (int, float)):
            adversary.equation(dict.fromkeys(shown_cells, 1.0), float(values[1]))
    export = load_workbook(BytesIO(client.get("/coherence/export.xlsx").get_data()))
    for values in export["Besoins"].iter_rows(min_row=2, values_only=True):
        if str(values[0]).startswith("RSA_") and isinstance(values[6], (int, float)):
            adversary.see(str(values[0])[4:], float(values[6]))
    data = json.loads(
        runner.invoke(args=["coherence", "--format", "json", "--organisation", demo_slug]).output
    )
    for n in data["needs"]:
        if n["code"].startswith("RSA_") and n["size"] is not None:
            adversary.see(n["code"][4:], float(n["size"]))
    # each RSA need's page: the referents' share (pro rata of the sizes) and persons offered
    known_sizes = [c for c in codes if c not in adversary.secret_at_source]
    adversary.equation({**dict.fromkeys(known_sizes, 1.0), "W": -1.0}, 0.0)
    for code, need_id in need_ids.items():
        page = client.get(f"/besoins/{need_id}").get_data(as_text=True)
        row = re.search(rf"<th scope=\"row\">{REFERENTS} <span class=\"meta\">(.*?)</tr>", page, re.S)
        if not row:
            continue
        cells = re.findall(r"<td class=\"num\">(.*?)</td>", row.group(1), re.S)
        share = number(cells[2]) if len(cells) > 2 else None
        if share is not None and "secret" not in cells[2]:
            adversary.equation({code: 1.0, "W": -share / 100}, 0.0, weight=0.01)


def test_no_masked_count_is_recovered_by_differencing(scenario, make_app, database_url, demo, engine):
    from tests.conftest import sign_in

    truth = scenario
    app = make_app(database_url)
    with write_session(engine) as session:
        iris = session.scalars(
            select(Territory)
            .where(Territory.organisation_id == demo.organisation_id, Territory.kind == TerritoryKind.IRIS)
            .order_by(Territory.code)
        ).all()
        names = {t.name: t.code for t in iris}
        needs = {
            n.code[4:]: n.id
            for n in session.scalars(
                select(Need).where(Need.organisation_id == demo.organisation_id, Need.code.like("RSA_%"))
            )
        }
        secret = {
            s.territory.code
            for s in session.scalars(
                select(TerritoryStatistic).where(
                    TerritoryStatistic.organisation_id == demo.organisation_id,
                    TerritoryStatistic.variable == "caf_rsa_socle",
                    TerritoryStatistic.is_secret,
                )
            )
        }
    adversary = Adversary(sorted(truth), names)
    adversary.secret_at_source = secret
    for role in ROLES:  # what any reader sees, put together
        collect(sign_in(app.test_client(), role), app.test_cli_runner(), adversary, needs, demo.slug)
    assert SMALL_IRIS not in adversary.known and SECRET_IRIS not in adversary.known  # shown as secret
    assert len(adversary.known) >= 15  # the adversary did read the published counts
    for code, value in adversary.known.items():
        assert value == pytest.approx(truth[code]), code  # it read them right
    recovered = adversary.solve()
    assert not recovered, "recovered by differencing: " + ", ".join(
        f"IRIS {c} = {v:.1f} (true {truth[c]:g})" for c, v in recovered.items()
    )
