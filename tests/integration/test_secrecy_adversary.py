"""An adversary who reads everything the organisation publishes, in every role, and tries to solve
for each masked count by differencing: it must find none.

The scenario (the issue's): IRIS 110690801 has 7 RSA recipients (masked by Pilotis' threshold);
IRIS 110690601 is secret at source, while the CAF commune file, imported too, gives the commune
total that includes it (12 recipients there: a figure Pilotis itself never holds). The direction
has published the coverage rates to the scorecard (the coherence page's button).

What the adversary reads, for each of six roles (what a role may not read answers 403 and gives
nothing), never the PDF:

- the ABS report page (IRIS table and its total) and its Excel annex (portrait, IRIS, needs,
  coverage by public with "cases secrètes exclues"); the ABS Word report, full and the thematic
  analysis of the RSA public, from the page and from ``pilotis report abs --format docx``
  (python-docx: key figures, portrait, IRIS table and total, needs register, matrix, coverage by
  public, gaps);
- the needs register, each RSA need's page (per activity: persons covered, share of the
  activity, imputed cost, the activity's yearly volume), the coherence page (matrix sizes), its
  Excel export and the JSON of ``pilotis coherence``;
- the costs page ``/couts`` and its Excel export (each activity's full cost and volume);
- the observatory of every territory it offers (page and Excel export: counts, rates per 100
  households with the households, comparisons with the commune);
- every GET of the JSON API (services, indicators and their targets and values, objectives, the
  scorecard), where the coverage rate of a public must be the one of its published needs.

What it knows: the IRIS add up to the commune; an RSA need is its IRIS' count; a matrix cell of
the RSA public is its IRIS' need; the coverage by public sums the cells it does not show as
secret; unmet = size x (1 - coverage); each activity shares the output it delivers in a
territory among the needs it reaches there, pro rata of their sizes (the rule every page states;
the deliveries and links are on the activity pages), so a need's share ``s`` of an activity,
read from its imputed cost over the activity's full cost, from its persons over the volume, or
from the share in %, gives ``d x size = (s - own parts) x W`` with ``W`` the sum of the sizes of
the group. Unknowns: the RSA count of every IRIS it does not see, each group's ``W``, the size of
each other need it does not see. A masked count is recovered when its unknown is determined by
the equations (a rank test).

Built once per module: every source is read by every role once, and the tests share it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from models import (
    Activity,
    ActivityDelivery,
    ActivityNeedCoverage,
    Need,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
)
from pilotis.database import write_session
from services.needs import resize_needs
from tests.conftest import DEMO_COMMUNE, csrf_token, new_app, rows_added_are_removed, sign_in
from tests.web.test_job_progress import prepared

SMALL_IRIS, SMALL = "110690801", 7.0
SECRET_IRIS, SECRET_TRUTH = "110690601", 12.0
ROLES = ["partenaire", "direction", "elu", "finances", "responsable.seniors", "admin"]
#: The role that reads the observatory of every territory, and every item of the API; the others
#: read the commune's and the small IRIS's observatory, which must give them the very same figures
#: (the observatory does not depend on the reader), and the API's lists.
SWEEPER = ROLES[0]
RSA_PUBLIC = "Bénéficiaires de minima sociaux"
RSA_THEME = "minima_sociaux"
RSA_LABEL = "Allocataires du RSA socle"
YEAR = 2027
#: Weight of an equation read from a rounded figure (a share in %, persons, a rate).
ROUGH = 0.01


def number(text: Any) -> float | None:
    """A French number as the pages write it (``2 971``, ``12,5 %``, ``≥ 13 050``), None for
    anything else."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    cleaned = re.sub(r"<[^>]+>", "", unescape(str(text or "")))
    for junk in ("\u202f", "\u00a0", " ", "%", "€", "≥", "allocataires"):
        cleaned = cleaned.replace(junk, "")
    try:
        return float(cleaned.replace(",", "."))
    except ValueError:
        return None


def leading(text: str) -> float | None:
    """The number a text starts with (``1 400 personne accompagnée (an)`` -> 1400)."""
    found = re.match(r"[\d\s\u202f\u00a0]*\d(,\d+)?", plain(text))
    return number(found.group(0)) if found else None


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@dataclass
class Structure:
    """What the activity pages and the register publish about the offer (no figure of a need)."""

    codes: list[str]  # IRIS codes of the RSA count
    names: dict[str, str]  # IRIS name -> code
    secret_at_source: set[str]
    commune: str  # the commune's name
    rsa_needs: dict[int, str]  # need id -> IRIS code
    need_labels: dict[int, str]
    activities: dict[str, int]  # activity name -> id
    #: activity id -> its delivery groups: (delivery share, pro-rata member need ids)
    groups: dict[int, list[tuple[float, list[int]]]]
    explicit: set[tuple[int, int]]  # (activity, need) links with an explicit share
    coefficient: dict[tuple[int, int], float]


class Adversary:
    """Linear equations over unknowns: the RSA count of each IRIS it does not see (by code), the
    sums ``W`` of the pro-rata groups, the sizes of other needs it does not see."""

    def __init__(self, structure: Structure) -> None:
        self.s = structure
        self.codes = structure.codes
        self.known: dict[str, float] = {}
        self.rows: list[tuple[dict[str, float], float, float, str]] = []
        self.sources: dict[str, int] = defaultdict(int)  # figures read, by source
        self.sizes: dict[int, float] = {}  # need id -> size read (any need)
        self.full_costs: dict[int, float] = {}  # activity id -> full cost (/couts)
        #: (activity, need, yearly volume, cells: coefficient, persons, share, imputed cost)
        self.shares: list[tuple[int, int, float | None, list[str]]] = []
        self.coverage_by_public: list[float] = []  # the annex's size of the RSA public
        self.rates: list[float] = []  # the RSA public's coverage rate in the API (%)
        self.published_rate: float | None = None  # that rate over its published needs (%)
        self.api_reads = 0
        #: (source, territory code) -> the observatory's figures read there
        self.observatory: dict[tuple[str, str], dict[str, list[tuple[str, float | None, str]]]] = {}

    def see(self, source: str, code: str | None, value: float | None) -> None:
        if code is not None and value is not None:
            self.known.setdefault(code, value)
            assert self.known[code] == pytest.approx(value, abs=0.51), (source, code, value)
            self.sources[source] += 1

    def equation(
        self, source: str, coefficients: dict[str, float], constant: float, weight: float = 1.0
    ) -> None:
        """``sum(k x unknown) = constant``; a rounded figure gets a low weight."""
        self.rows.append((coefficients, constant, weight, source))
        self.sources[source] += 1

    def commune(self, source: str, value: float | None, *, published_only: bool) -> None:
        """The commune's count: of every IRIS, or of the IRIS not secret at source (a lower bound)."""
        if value is None:
            return
        parts = [c for c in self.codes if not (published_only and c in self.s.secret_at_source)]
        self.equation(source, dict.fromkeys(parts, 1.0), value)

    def solve(
        self, *, only: set[str] | None = None, extra: dict[str, float] | None = None
    ) -> dict[str, float]:
        """The RSA counts of the IRIS not seen that the equations determine, with their value
        (``only``: the sources used; ``extra``: figures taken as seen besides)."""
        known = {**self.known, **(extra or {})}
        rows = [r for r in self.rows if only is None or r[3] in only]
        names = sorted({n for coefficients, *_ in rows for n in coefficients} | set(self.codes))
        unknown = [n for n in names if n not in known]
        col = {c: j for j, c in enumerate(unknown)}
        a, b = [], []
        for coefficients, constant, weight, _ in rows:
            row, rhs = np.zeros(len(unknown)), constant
            for name, k in coefficients.items():
                if name in col:
                    row[col[name]] += k
                else:
                    rhs -= k * known[name]
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
            if name in self.codes and np.linalg.matrix_rank(np.vstack([matrix, e])) == rank:
                found[name] = float(solution[j])
        return found

    def residuals(self, truth: dict[str, float]) -> list[tuple[float, float, str]]:
        """Each equation's residual with the true counts (the other unknowns fitted) and the
        tolerance of its rounding: the adversary's model of the pages is right."""
        fixed = {**truth, **self.known}
        names = sorted({n for coefficients, *_ in self.rows for n in coefficients if n not in fixed})
        col = {c: j for j, c in enumerate(names)}
        a = np.zeros((len(self.rows), len(names)))
        b = np.zeros(len(self.rows))
        weights = np.array([w for *_, w, _ in self.rows])
        for i, (coefficients, constant, _, _) in enumerate(self.rows):
            b[i] = constant
            for name, k in coefficients.items():
                if name in col:
                    a[i, col[name]] += k
                else:
                    b[i] -= k * fixed[name]
        x = np.linalg.lstsq(a * weights[:, None], b * weights, rcond=None)[0] if names else np.zeros(0)
        value = {**fixed, **dict(zip(names, x, strict=True))}
        out = []
        for r, (coefficients, constant, w, source) in zip(a @ x - b, self.rows, strict=True):
            scale = sum(abs(k * value[n]) for n, k in coefficients.items()) + abs(constant)
            out.append((float(r), (1e-4 * scale + 0.05) if w == 1.0 else (0.5 * scale + 1.0), source))
        return out

    # -- the need figures: a size, or a share of an activity ------------------------------------
    def size_of(self, need_id: int) -> str | float:
        """The unknown (or the constant read) standing for a need's size."""
        if need_id in self.s.rsa_needs:
            return self.s.rsa_needs[need_id]
        return self.sizes.get(need_id, f"need:{need_id}")

    def share(self, source: str, activity_id: int, need_id: int, s: float, weight: float) -> None:
        """Need ``need_id`` gets share ``s`` of the activity's output: with the groups it is a
        pro-rata member of, ``d x size = (s - parts where it is alone) x W``."""
        if (activity_id, need_id) in self.s.explicit:
            return
        mine = [
            (i, d, members)
            for i, (d, members) in enumerate(self.s.groups.get(activity_id, []))
            if need_id in members
        ]
        alone = sum(d for _, d, members in mine if len(members) == 1)
        shared = [(i, d) for i, d, members in mine if len(members) > 1]
        if len(shared) != 1:
            return  # fixed by its own deliveries, or a sum of reciprocals: no linear equation
        i, d = shared[0]
        size = self.size_of(need_id)
        w = f"W:{activity_id}:{i}"
        coefficients: dict[str, float] = {w: -(s - alone)}
        constant = 0.0
        if isinstance(size, str):
            coefficients[size] = coefficients.get(size, 0.0) + d
        else:
            constant = -d * size
        self.equation(source, coefficients, constant, weight)

    def group_sums(self) -> None:
        """``W`` of each group is the sum of its members' sizes."""
        for activity_id, groups in self.s.groups.items():
            for i, (_, members) in enumerate(groups):
                if len(members) < 2:
                    continue
                coefficients: dict[str, float] = {f"W:{activity_id}:{i}": -1.0}
                constant = 0.0
                for m in members:
                    size = self.size_of(m)
                    if isinstance(size, str):
                        coefficients[size] = coefficients.get(size, 0.0) + 1.0
                    else:
                        constant -= size
                self.equation("structure", coefficients, constant)


# -- the scenario and what the activity pages publish ---------------------------------------------
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


def _structure(session, org: int) -> tuple[Structure, dict[str, float]]:
    territories = session.scalars(select(Territory).where(Territory.organisation_id == org)).all()
    parent = {t.id: t.parent_id for t in territories}
    iris = sorted((t for t in territories if t.kind is TerritoryKind.IRIS), key=lambda t: t.code)
    stats = {
        s.territory_id: s
        for s in session.scalars(
            select(TerritoryStatistic).where(
                TerritoryStatistic.organisation_id == org, TerritoryStatistic.variable == "caf_rsa_socle"
            )
        )
    }
    truth = {t.code: (SECRET_TRUTH if stats[t.id].is_secret else float(stats[t.id].value or 0)) for t in iris}
    needs = session.scalars(select(Need).where(Need.organisation_id == org)).all()
    territory_of = {n.id: n.territory_id for n in needs}
    code_of = {t.id: t.code for t in territories}
    rsa = {n.id: code_of[n.territory_id] for n in needs if n.code.startswith("RSA_")}
    unsized = {n.id for n in needs if n.size is None}  # « non chiffré » on every page

    def above(a: int | None, b: int | None) -> bool:
        seen = set()
        while a is not None and a not in seen:
            if a == b:
                return True
            seen.add(a)
            a = parent.get(a)
        return False

    def reaches(place: int, need_id: int) -> bool:
        t = territory_of[need_id]
        return t is None or above(t, place) or above(place, t)

    activities = session.scalars(select(Activity).where(Activity.organisation_id == org)).all()
    links = session.scalars(
        select(ActivityNeedCoverage).where(ActivityNeedCoverage.activity_id.in_([a.id for a in activities]))
    ).all()
    deliveries = session.scalars(
        select(ActivityDelivery).where(ActivityDelivery.activity_id.in_([a.id for a in activities]))
    ).all()
    by_activity: dict[int, list[ActivityNeedCoverage]] = defaultdict(list)
    for link in links:
        by_activity[link.activity_id].append(link)
    places: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for d in deliveries:
        places[d.activity_id].append((float(d.share), d.territory_id))
    groups: dict[int, list[tuple[float, list[int]]]] = {}
    for a in activities:
        rule = [link.need_id for link in by_activity[a.id] if link.share is None]
        fixed = [(link.need_id, float(link.share)) for link in by_activity[a.id] if link.share is not None]
        where = places.get(a.id) or [(1.0, None)]
        scale = max(1.0, sum(d for d, _ in where))  # delivery shares beyond 1 are scaled to 1
        groups[a.id] = []
        for d, t in where:
            reached = [n for n in rule if t is None or reaches(t, n)]
            explicit = sum(e for n, e in fixed if t is None or reaches(t, n))
            rest = max(0.0, 1.0 - explicit) if reached else 0.0  # what the pro-rata needs share
            sized = sorted(n for n in reached if n not in unsized)
            groups[a.id].append((d / scale * rest, sized))
    structure = Structure(
        codes=sorted(truth),
        names={t.name: t.code for t in iris},
        secret_at_source={code_of[t] for t, s in stats.items() if s.is_secret and t in code_of},
        commune=next(t.name for t in territories if t.code == DEMO_COMMUNE),
        rsa_needs=rsa,
        need_labels={n.id: n.label for n in needs},
        activities={a.name: a.id for a in activities},
        groups=groups,
        explicit={(link.activity_id, link.need_id) for link in links if link.share is not None},
        coefficient={(link.activity_id, link.need_id): float(link.coefficient) for link in links},
    )
    return structure, truth


@dataclass
class Published:
    adversary: Adversary
    truth: dict[str, float]
    statuses: dict[tuple[str, str], int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def published(engine, demo, tmp_path_factory) -> Iterator[Published]:
    """Every source read by every role, once for the module; the scenario undone afterwards."""
    org = demo.organisation_id
    with write_session(engine) as session:
        before = _stat(session, org, SMALL_IRIS).value
    with rows_added_are_removed(engine):
        with write_session(engine) as session:
            small = _stat(session, org, SMALL_IRIS)
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
        folder = tmp_path_factory.mktemp("adversary")
        app = new_app(engine.url.render_as_string(hide_password=False), folder / "instance")
        try:
            direction = sign_in(app.test_client(), "direction")
            page = direction.get("/coherence").get_data(as_text=True)
            published_rates = direction.post("/coherence/publier", data={"csrf_token": csrf_token(page)})
            assert published_rates.status_code == 303
            with write_session(engine) as session:
                structure, truth = _structure(session, org)
            adversary = Adversary(structure)
            result = Published(adversary, truth)
            runner = app.test_cli_runner()
            read_cli(runner, adversary, demo.slug, folder)
            for role in ROLES:  # what any reader sees, put together
                read_role(sign_in(app.test_client(), role), adversary, result.statuses, role)
            finish(adversary)
            adversary.group_sums()
            yield result
        finally:
            app.extensions["pilotis.engine"].dispose()
    with write_session(engine) as session:
        _stat(session, org, SMALL_IRIS).value = before
        session.flush()
        resize_needs(session, org)


# -- the sources -----------------------------------------------------------------------------------
def read_cli(runner, adversary: Adversary, slug: str, folder: Path) -> None:
    data = json.loads(runner.invoke(args=["coherence", "--format", "json", "--organisation", slug]).output)
    for n in data["needs"]:
        if n["code"].startswith("RSA_") and n["size"] is not None:
            adversary.see("cli coherence", n["code"][4:], float(n["size"]))
    for theme in (None, RSA_THEME):
        path = folder / f"abs-{theme or 'full'}.docx"
        args = [
            "report",
            "abs",
            "--year",
            str(YEAR),
            "--format",
            "docx",
            "-o",
            str(path),
            "--organisation",
            slug,
        ]
        result = runner.invoke(args=args + (["--theme", theme] if theme else []))
        assert result.exit_code == 0, result.output
        read_word(path.read_bytes(), adversary, "cli word")


def read_role(client, adversary: Adversary, statuses: dict[tuple[str, str], int], role: str) -> None:
    def get(url: str):
        response = client.get(url)
        statuses[(role, url)] = response.status_code
        assert response.status_code in (200, 403), (role, url, response.status_code)
        if response.status_code != 200:
            return None
        return response

    read_abs(get, adversary, client)
    read_needs(get, adversary)
    read_costs(get, adversary)
    read_observatory(get, adversary, sweep=role == SWEEPER)
    read_api(get, adversary, sweep=role == SWEEPER)


def read_abs(get, adversary: Adversary, client) -> None:
    codes = adversary.codes
    published = [c for c in codes if c not in adversary.s.secret_at_source]
    response = get(f"/abs?annee={YEAR}")
    if response is not None:
        page = response.get_data(as_text=True)
        assert "Analyse des besoins sociaux" in page
        for code in codes:
            row = re.search(rf"\({code}\)</span></th>(.*?)</tr>", page, re.S)
            if row:
                cells = re.findall(r"<td class=\"num\">(.*?)</td>", row.group(1), re.S)
                adversary.see("abs page", code, number(cells[3]))
        foot = re.search(r"<tfoot>(.*?)</tfoot>", page, re.S)
        if foot is not None:
            cells = re.findall(r"<td class=\"num\">(.*?)</td>", foot.group(1), re.S)
            total = number(cells[3]) if len(cells) > 3 else None
            if total is not None:
                adversary.equation("abs page", dict.fromkeys(published, 1.0), total)
    response = get(f"/abs/annexe.xlsx?annee={YEAR}")
    if response is not None:
        book = load_workbook(BytesIO(response.get_data()))
        for values in book["Portrait"].iter_rows(min_row=2, values_only=True):
            if values[1] == RSA_LABEL and isinstance(values[2], (int, float)):
                adversary.commune("abs annex", float(values[2]), published_only=values[4] == "oui")
        sheet = list(book["IRIS"].iter_rows(min_row=1, values_only=True))
        rsa = list(sheet[0]).index("RSA socle")
        for values in sheet[1:]:
            if values[0] in codes:
                adversary.see("abs annex", values[0], number(values[rsa]))
            if values[0] == "Total" and isinstance(values[rsa], (int, float)):
                adversary.equation("abs annex", dict.fromkeys(published, 1.0), float(values[rsa]))
        for values in book["Besoins"].iter_rows(min_row=2, values_only=True):
            if str(values[0]).startswith("RSA_"):
                adversary.see("abs annex", str(values[0])[4:], number(values[4]))
        adversary.coverage_by_public = [
            float(values[1])
            for values in book["Couverture par public"].iter_rows(min_row=2, values_only=True)
            if values[0] == RSA_PUBLIC and isinstance(values[1], (int, float))
        ]
    if get(f"/abs/rapport.docx?annee={YEAR}") is not None:  # the thematic one: from the CLI
        # written by a background task, as the page asks for it (the file of the role's copy)
        response = prepared(client, f"/abs/rapport.docx?annee={YEAR}")
        assert response.status_code == 200
        read_word(response.get_data(), adversary, "abs word")


def read_word(content: bytes, adversary: Adversary, source: str) -> None:
    """The ABS Word report: key figures, portrait, IRIS table, register, matrix, coverage, gaps."""
    document = Document(BytesIO(content))
    s = adversary.s
    published = [c for c in s.codes if c not in s.secret_at_source]
    by_label = {f"Allocataires du RSA — {name}": code for name, code in s.names.items()}
    for paragraph in document.paragraphs:
        found = re.match(rf"^(≥\s*)?([\d\s\u202f\u00a0]+)\s+{RSA_LABEL}", paragraph.text)
        if found:
            adversary.commune(source, number(found.group(2)), published_only=bool(found.group(1)))
    shown_cells: set[str] = set()
    coverage: list[float] = []
    for table in document.tables:
        rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
        head = rows[0]
        for row in rows[1:]:
            if head[0] == "Indicateur" and s.commune in head and row[0] == RSA_LABEL:
                value = row[head.index(s.commune)]
                adversary.commune(source, number(value), published_only="≥" in value)
            elif head[0] == "IRIS" and "RSA socle" in head:
                value = number(row[head.index("RSA socle")])
                code = re.search(r"\((\d{9})\)$", row[0])
                if code:
                    adversary.see(source, code.group(1), value)
                elif row[0].startswith("Total") and value is not None:
                    adversary.equation(source, dict.fromkeys(published, 1.0), value)
            elif head[0] == "Besoin" and "Effectif" in head and row[0] in by_label:
                adversary.see(source, by_label[row[0]], number(row[head.index("Effectif")]))
            elif head[0] == "Besoin" and "Non couverts" in head and row[0] in by_label:
                rate, unmet = number(row[head.index("Couverture")]), number(row[head.index("Non couverts")])
                if rate is not None and unmet is not None and rate < 100:
                    adversary.equation(source, {by_label[row[0]]: 1 - rate / 100}, unmet, ROUGH)
            elif head[0] == "Public" and "Effectif" in head and row[0] == RSA_PUBLIC:
                value = number(row[head.index("Effectif")])
                if value is not None:
                    coverage.append(value)
            elif head[0] == "Public" and row[0] == RSA_PUBLIC:
                for territory, cell in zip(head[1:], row[1:], strict=True):
                    size = re.search(r"\(([^)]*)\)", cell)
                    code = s.names.get(territory)
                    if code and size and "secret" not in cell:
                        adversary.see(source, code, number(size.group(1)))
                        shown_cells.add(code)
    for value in coverage:  # the public's size: its cells not shown as secret
        adversary.equation(source, dict.fromkeys(shown_cells, 1.0), value)


def read_needs(get, adversary: Adversary) -> None:
    s = adversary.s
    response = get("/besoins")
    if response is not None:
        register = response.get_data(as_text=True)
        for need_id in s.need_labels:
            row = re.search(rf'href="/besoins/{need_id}">[^<]*</a></th>(.*?)</tr>', register, re.S)
            cells = re.findall(r"<td class=\"num\">(.*?)</td>", row.group(1), re.S) if row else []
            size = leading(cells[0]) if cells else None
            if cells and size is not None:
                adversary.sizes.setdefault(need_id, size)
                if need_id in s.rsa_needs:
                    adversary.see("register", s.rsa_needs[need_id], number(cells[0].split("allocataires")[0]))
    response = get("/coherence")
    shown_cells = set()
    if response is not None:
        coherence = response.get_data(as_text=True)
        heads = re.findall(
            r'<th scope="col">(.*?)</th>', coherence.split("heatmap", 1)[1].split("</thead>", 1)[0]
        )[1:]
        line = re.search(rf'<th scope="row">{RSA_PUBLIC}</th>(.*?)</tr>', coherence, re.S)
        if line:
            for territory, cell in zip(
                heads, re.findall(r"<td[^>]*>(.*?)</td>", line.group(1), re.S), strict=False
            ):
                size = re.search(r"\(([^)]*)\)", cell)
                code = s.names.get(unescape(territory))
                if code and size and "secret" not in cell:
                    adversary.see("coherence page", code, number(size.group(1)))
                    shown_cells.add(code)
    for value in adversary.coverage_by_public:
        adversary.equation("abs annex", dict.fromkeys(shown_cells, 1.0), value)
    response = get("/coherence/export.xlsx")
    if response is not None:
        export = load_workbook(BytesIO(response.get_data()))
        sheet = list(export["Besoins"].iter_rows(values_only=True))
        head = list(sheet[0])
        size, covered, rate, unmet = (
            head.index(h) for h in ("Effectif", "Couverts", "Taux de couverture", "Non couverts")
        )
        shown = [
            (v[size], v[covered])
            for v in sheet[1:]
            if v[2] == RSA_PUBLIC and isinstance(v[covered], (int, float))
        ]
        adversary.published_rate = round(100 * sum(c for _, c in shown) / sum(n for n, _ in shown), 1)
        for values in sheet[1:]:
            if str(values[0]).startswith("RSA_"):
                code = str(values[0])[4:]
                adversary.see("coherence export", code, number(values[size]))
                if (
                    isinstance(values[rate], (int, float))
                    and isinstance(values[unmet], (int, float))
                    and values[rate] < 1
                ):
                    adversary.equation("coherence export", {code: 1 - values[rate]}, float(values[unmet]))
    # each RSA need's page: per activity, persons covered, share, imputed cost, the volume
    for need_id in s.rsa_needs:
        response = get(f"/besoins/{need_id}")
        if response is None:
            continue
        page = response.get_data(as_text=True)
        rows = re.findall(
            r'<tr><th scope="row">([^<]*?) <span class="meta">\(([^)]*(?:\([^)]*\))?[^)]*) par an\)</span></th>(.*?)</tr>',
            page,
            re.S,
        )
        for name, volume, rest in rows:
            activity_id = s.activities.get(unescape(name).strip())
            cells = [plain(c) for c in re.findall(r"<td class=\"num\">(.*?)</td>", rest, re.S)]
            if activity_id is None or len(cells) < 4:
                continue
            adversary.shares.append(
                (
                    activity_id,
                    need_id,
                    leading(volume),
                    cells,
                )
            )


def read_costs(get, adversary: Adversary) -> None:
    """Each activity's full cost and volume (page and workbook)."""
    response = get("/couts")
    if response is not None:
        page = response.get_data(as_text=True)
        table = re.search(r"Coût par activité et par bénéficiaire</h2>(.*?)</table>", page, re.S)
        assert table is not None
        for name, rest in re.findall(
            r'<tr data-activity="[^"]*"><th scope="row">(.*?)</th>(.*?)</tr>', table.group(1), re.S
        ):
            cells = re.findall(r"<td class=\"num[^\"]*\">(.*?)</td>", rest, re.S)
            activity_id = adversary.s.activities.get(unescape(name))
            full = number(plain(cells[3])) if len(cells) > 3 else None
            if activity_id is not None and full is not None:
                adversary.full_costs.setdefault(activity_id, full)
                adversary.sources["costs page"] += 1
    response = get("/couts/export.xlsx")
    if response is not None:
        sheet = list(
            load_workbook(BytesIO(response.get_data()))["Coûts par activité"].iter_rows(values_only=True)
        )
        full = sheet[0].index("Coût complet")
        for values in sheet[1:]:
            activity_id = adversary.s.activities.get(str(values[0]))
            if activity_id is not None and isinstance(values[full], (int, float)):
                held = adversary.full_costs.setdefault(activity_id, float(values[full]))
                assert held == pytest.approx(float(values[full]), abs=0.51)
                adversary.sources["costs export"] += 1


def read_observatory(get, adversary: Adversary, *, sweep: bool) -> None:
    """Every territory the observatory offers (``sweep``; else the commune and the small IRIS),
    page and workbook."""
    s = adversary.s
    response = get("/observatoire")
    if response is None:
        return
    choices = re.findall(
        r'<option value="(\d+)"[^>]*>[^<]*\((\w+)\)</option>', response.get_data(as_text=True)
    )
    assert len(choices) >= len(s.codes)
    if not sweep:
        choices = [(t, code) for t, code in choices if code in (DEMO_COMMUNE, SMALL_IRIS)]
    for territory_id, code in choices:
        response = get(f"/observatoire?territoire={territory_id}")
        page = response.get_data(as_text=True) if response is not None else ""
        figures: dict[str, list[tuple[str, float | None, str]]] = defaultdict(list)
        for indicator, article in re.findall(
            r'<article[^>]*aria-labelledby="ind-([^"]+)">(.*?)</article>', page, re.S
        ):
            meta = plain(re.search(r'<p class="meta">(.*?)</p>', article, re.S).group(1))
            for place, value in re.findall(
                r'<tr><th scope="row">(.*?)</th><td>[^<]*</td><td class="num">(.*?)</td></tr>', article, re.S
            ):
                figures[indicator].append((unescape(place).split(" : ")[-1], number(value), meta))
        _observe(adversary, "observatory page", code, figures)
        response = get(f"/observatoire/export.xlsx?territoire={territory_id}")
        if response is None:
            continue
        rows = list(load_workbook(BytesIO(response.get_data())).active.iter_rows(min_row=2, values_only=True))
        by_label = {
            "RSA socle": "caf_rsa_socle",
            RSA_LABEL: "caf_rsa_socle",
            "Allocataires du RSA pour 100 ménages": "rsa_pour_100_menages",
            "Ménages fiscaux": "filo_menages",
        }
        figures = defaultdict(list)
        for _theme, label, place, _level, _vintage, value, _unit, _formula, sources in rows:
            if label in by_label:
                figures[by_label[label]].append((str(place), number(value), str(sources)))
        _observe(adversary, "observatory export", code, figures)


def _observe(
    adversary: Adversary, source: str, code: str, figures: dict[str, list[tuple[str, float | None, str]]]
) -> None:
    s = adversary.s
    held = adversary.observatory.setdefault((source, code), dict(figures))
    assert held == dict(figures), (source, code)  # the same for every reader
    households = {place: value for place, value, _ in figures.get("filo_menages", []) if value is not None}

    def place_code(place: str) -> str | None:
        return s.names.get(place) or (DEMO_COMMUNE if place == s.commune else None)

    for place, value, meta in figures.get("caf_rsa_socle", []):
        where = place_code(place)
        if where == DEMO_COMMUNE:
            adversary.commune(source, value, published_only="somme des IRIS publiés" in meta)
        else:
            adversary.see(source, where, value)
    for place, value, meta in figures.get("rsa_pour_100_menages", []):
        where, households_there = place_code(place), households.get(place)
        if value is None or where is None or households_there is None:
            continue
        count = value * households_there / 100
        if where == DEMO_COMMUNE:
            published = "somme des IRIS publiés" in meta
            parts = [c for c in s.codes if not (published and c in s.secret_at_source)]
            adversary.equation(source, dict.fromkeys(parts, 1.0), count, ROUGH)
        else:
            adversary.equation(source, {where: 1.0}, count, ROUGH)


def read_api(get, adversary: Adversary, *, sweep: bool) -> None:
    """The API's lists; with ``sweep``, every item, target and value besides (they carry no
    territorial figure: one role reads them). The published coverage rate of the RSA public
    (its values, its scorecard line) is that of its published needs, else it would carry a masked
    need."""
    if get("/api/v1/moi") is None:
        return
    lists = {
        path: get(path).get_json()
        for path in ("/api/v1/services", "/api/v1/indicators", "/api/v1/objectives")
    }
    indicators = {i["code"]: i for i in lists["/api/v1/indicators"]}
    if sweep:
        for path, items in lists.items():
            for item in items:
                get(f"{path}/{item['id']}")
                adversary.api_reads += 1
        for item in indicators.values():
            get(f"/api/v1/indicators/{item['id']}/targets")
            get(f"/api/v1/indicators/{item['id']}/measurements")
            adversary.api_reads += 2
    rate = indicators.get(f"couverture_{RSA_THEME}")
    if rate is not None:
        values = [m["value"] for m in get(f"/api/v1/indicators/{rate['id']}/measurements").get_json()]
        adversary.rates.extend(v for v in values if v is not None)
        lines = list(_lines(get("/api/v1/scorecard?period=2025").get_json(), rate["code"], rate["id"]))
        adversary.rates.extend(lines)
        adversary.sources["api"] += len(values) + len(lines)


def _lines(data: Any, code: str, indicator_id: int) -> Iterator[float]:
    """The values of an indicator's lines anywhere in a JSON answer."""
    if isinstance(data, dict):
        if (data.get("code") == code or data.get("indicator_id") == indicator_id) and isinstance(
            data.get("value"), (int, float)
        ):
            yield float(data["value"])
        for value in data.values():
            yield from _lines(value, code, indicator_id)
    elif isinstance(data, list):
        for value in data:
            yield from _lines(value, code, indicator_id)


def finish(adversary: Adversary) -> None:
    """The need pages' shares, once every activity's full cost is known."""
    costs = adversary.full_costs
    for activity_id, need_id, volume, cells in adversary.shares:
        coefficient, persons, share, imputed = (number(c) for c in cells[:4])
        full = costs.get(activity_id)
        if imputed is not None and full:
            adversary.share("need page cost", activity_id, need_id, imputed / full, 1.0)
        k = adversary.s.coefficient.get((activity_id, need_id)) or coefficient
        if persons and volume and k:  # « 0 » persons or « 0 % »: rounded away, no equation
            adversary.share("need page persons", activity_id, need_id, persons / (k * volume), ROUGH)
        if share:
            adversary.share("need page share", activity_id, need_id, share / 100, ROUGH)


# -- the tests ---------------------------------------------------------------------------------------
def test_the_adversary_reads_every_source_and_reads_it_right(published):
    adversary, truth = published.adversary, published.truth
    assert SMALL_IRIS not in adversary.known and SECRET_IRIS not in adversary.known  # shown as secret
    assert len(adversary.known) >= 15  # the adversary did read the published counts
    for code, value in adversary.known.items():
        assert value == pytest.approx(truth[code], abs=0.51), code  # it read them right
    # its equations hold for the true counts (its model of the pages is right)
    residuals = adversary.residuals(truth)
    assert all(abs(r) < tolerance for r, tolerance, _ in residuals), [
        x for x in residuals if abs(x[0]) >= x[1]
    ]
    read = set(adversary.sources)
    for source in (
        "abs page",
        "abs annex",
        "abs word",
        "cli word",
        "cli coherence",
        "register",
        "coherence page",
        "coherence export",
        "need page cost",
        "need page persons",
        "need page share",
        "costs page",
        "costs export",
        "observatory page",
        "observatory export",
        "api",
        "structure",
    ):
        assert source in read, source
    # every role read what it may read; the cost model is not for partners nor service managers
    assert published.statuses[("direction", "/couts")] == 200
    assert published.statuses[("partenaire", "/couts")] == 403
    assert all(published.statuses[(role, "/observatoire")] == 200 for role in ROLES)
    # the coverage rate the API publishes is the one of the public's published needs
    assert adversary.rates and adversary.published_rate is not None
    assert adversary.rates == [pytest.approx(adversary.published_rate, abs=0.05)] * len(adversary.rates)


def test_no_masked_count_is_recovered_by_differencing(published):
    recovered = published.adversary.solve()
    assert not recovered, "recovered by differencing: " + ", ".join(
        f"IRIS {c} = {v:.1f} (true {published.truth[c]:g})" for c, v in recovered.items()
    )


def test_one_more_published_cell_would_give_the_masked_count_away(published):
    """The equations are not idle: with the complementary cell of the small count published, the
    adversary finds the small count, from the ABS files alone, and from the costs and shares of the
    need pages alone."""
    adversary, truth = published.adversary, published.truth
    masked = [c for c in adversary.codes if c not in adversary.known and c not in (SMALL_IRIS, SECRET_IRIS)]
    assert masked  # the complement Pilotis chose
    extra = {c: truth[c] for c in masked}
    for only in (None, {"abs word"}, {"need page cost", "structure"}, {"observatory page", "abs annex"}):
        found = adversary.solve(only=only, extra=extra)
        assert found.get(SMALL_IRIS) == pytest.approx(SMALL, abs=0.5), only
