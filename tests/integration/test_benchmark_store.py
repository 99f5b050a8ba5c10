"""Stored benchmark indicators: computed once, with their vintage, stale when a budget is written,
read back by the comparison (quartiles, rank, stratum, histogram) with the k >= 3 rule; the nightly
job; reference files through a saved column mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select

from models import BenchmarkRefresh, BenchmarkValue, Nomenclature, Organisation, OrganisationKind
from services.benchmark import (
    BenchmarkError,
    ReferenceMapping,
    apply_mapping,
    build_benchmark,
    find_mapping,
    import_mapped,
    mark_stale,
    needs_refresh,
    parse_reference,
    refresh_all,
    refresh_indicators,
    save_mapping,
    values_page,
)
from services.budget import DocumentToWrite, LineToWrite, write_budget_document

NOW = datetime(2026, 12, 3, 3, 30, tzinfo=UTC)


def organisation(session, slug: str, population: int) -> Organisation:
    org = Organisation(slug=slug, name=f"CCAS {slug}", kind=OrganisationKind.CCAS, population=population)
    session.add(org)
    session.flush()
    return org


def write_accounts(session, org: Organisation, year: int, amount: str) -> None:
    header = DocumentToWrite(
        "CA", year, Nomenclature.M57, "principal", f"ca-{year}.csv", "csv", f"fp-{org.id}-{year}-{amount}"
    )
    line = LineToWrite(Nomenclature.M57, "421", "421", "6042", "Prestations", Decimal(amount))
    write_budget_document(session, org.id, header, [line], user_id=None, now=NOW)


def stored(session, org_id: int) -> dict[str, tuple[float, int | None]]:
    rows = session.execute(
        select(BenchmarkValue.code, BenchmarkValue.value, BenchmarkValue.year).where(
            BenchmarkValue.organisation_id == org_id
        )
    ).all()
    return {code: (value, year) for code, value, year in rows}


def test_indicators_are_stored_once_with_their_vintage_and_stale_after_a_budget(db_session):
    org = organisation(db_session, "bench-store-1", 10_000)
    write_accounts(db_session, org, 2024, "500000.00")
    assert needs_refresh(db_session, org.id)  # the budget marked it stale (never computed yet)
    assert refresh_indicators(db_session, org.id, now=NOW) == 2
    assert stored(db_session, org.id) == {
        "depense_hab_421": (pytest.approx(50.0), 2024),
        "depense_hab_total": (pytest.approx(50.0), 2024),
    }
    refresh = db_session.get(BenchmarkRefresh, org.id)
    assert refresh.computed_at == NOW and not refresh.stale
    assert not needs_refresh(db_session, org.id)
    write_accounts(db_session, org, 2025, "800000.00")  # a newer account: stale, recomputed at its view
    assert needs_refresh(db_session, org.id)
    build_benchmark(db_session, org.id)
    assert stored(db_session, org.id)["depense_hab_total"] == (pytest.approx(80.0), 2025)
    assert not needs_refresh(db_session, org.id)


def test_the_comparison_reads_the_stored_values_quartiles_rank_stratum_histogram(db_session):
    """Stored rows written directly (as the bench does): the figures are numpy's on the same values."""
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    populations = [1_000, 2_000, 3_000, 8_000, 9_000, 12_000, 150_000]
    orgs = [organisation(db_session, f"bench-store-q{i}", p) for i, p in enumerate(populations)]
    for org, value in zip(orgs, values, strict=True):
        db_session.add(
            BenchmarkValue(organisation_id=org.id, code="delai_store_test", value=value, year=2025)
        )
        db_session.add(BenchmarkRefresh(organisation_id=org.id, computed_at=NOW, stale=False))
    db_session.flush()
    viewer = orgs[3]  # 40.0, stratum 5-20k with 9 000 and 12 000
    view = build_benchmark(db_session, viewer.id)
    item = next(i for i in view.families["delai"] if i.info.code == "delai_store_test")
    c = item.comparison
    everyone = np.array(values)
    assert (c.n, c.rank, c.own_value) == (7, 4, 40.0)
    assert tuple(c.quartiles) == tuple(np.quantile(everyone, [0.25, 0.5, 0.75]))
    assert (c.stratum, c.stratum_n, c.stratum_rank) == ("5-20k", 3, 1)
    assert tuple(c.stratum_quartiles) == tuple(np.quantile([40.0, 50.0, 60.0], [0.25, 0.5, 0.75]))
    assert item.strata == {"0-5k": 3, "5-20k": 3, "100k+": 1}
    assert (
        sum(item.histogram.counts) == 7
        and item.histogram.edges[0] == 10.0
        and item.histogram.edges[-1] == 70.0
    )
    assert item.histogram.own_bin == 5  # 40 lies in [40, 46)
    assert sum(item.histogram.stratum_counts) == 3
    assert len(c.rows) == 1 and bool(c.rows["own"].iloc[0])  # no other organisation's row in the summary
    page = values_page(db_session, viewer.id, "delai_store_test", per_page=3, page=2)
    assert (page.page, page.pages, page.total) == (2, 3, 7)
    assert [r.value for r in page.rows] == [40.0, 50.0, 60.0]
    assert page.rows[0].own and page.rows[1].label.startswith("Organisation ")


def test_fewer_than_three_stored_values_show_nothing_of_the_others(db_session):
    a = organisation(db_session, "bench-store-k1", 1_000)
    b = organisation(db_session, "bench-store-k2", 1_500)
    for org, value in ((a, 3.0), (b, 7.0)):
        db_session.add(BenchmarkValue(organisation_id=org.id, code="delai_store_k", value=value, year=2025))
        db_session.add(BenchmarkRefresh(organisation_id=org.id, computed_at=NOW, stale=False))
    db_session.flush()
    item = next(
        i for i in build_benchmark(db_session, a.id).families["delai"] if i.info.code == "delai_store_k"
    )
    assert not item.comparison.comparable and item.histogram is None and item.comparison.quartiles is None
    assert item.comparison.rank is None and item.strata == {}
    assert values_page(db_session, a.id, "delai_store_k") is None


def test_the_nightly_job_stores_every_organisation(db_session):
    from jobs.registry import BY_NAME, Context

    org = organisation(db_session, "bench-store-job", 4_000)
    write_accounts(db_session, org, 2025, "40000.00")
    job = BY_NAME["benchmark-indicators"]
    ctx = Context(now=NOW, packs_folder=None)  # type: ignore[arg-type]
    assert job.due(db_session, org, ctx) == ["2026-12-03"]
    assert job.run(db_session, org, "2026-12-03", ctx) == "2 indicateur(s) de comparaison enregistré(s)"
    assert stored(db_session, org.id)["depense_hab_total"] == (pytest.approx(10.0), 2025)
    mark_stale(db_session, org.id)
    assert refresh_all(db_session) >= 1 and not needs_refresh(db_session, org.id)


NATIONAL = (
    "SIREN;Nom;Population;Exercice;DRF par habitant;Coût repas\n"
    "261100001;CCAS A;12 000;2024;55,5;9,1\n"
    "261100002;CCAS B;3 500;2024;41;\n"
    "261100003;CCAS C;64000;2024;70,25;8\n"
)


def test_a_national_file_is_imported_through_a_saved_mapping(tmp_path):
    mapping = ReferenceMapping(
        name="Comptes CCAS (données ouvertes)",
        organisation="siren",
        population="Population",
        year="Exercice",
        indicators={"depense_hab_total": "DRF par habitant", "cout_unite_repas": "Coût repas"},
    )
    save_mapping(tmp_path, mapping)
    again = find_mapping(tmp_path, "Comptes CCAS (données ouvertes)")
    assert again == mapping
    rewritten = apply_mapping(NATIONAL.encode(), "comptes.csv", again)
    contributions = {c.key[2]: (c.stratum, c.values) for c in parse_reference(rewritten)}
    assert contributions == {
        "261100001": ("5-20k", {"depense_hab_total": (55.5, 2024), "cout_unite_repas": (9.1, 2024)}),
        "261100002": ("0-5k", {"depense_hab_total": (41.0, 2024)}),  # an empty cell: no value
        "261100003": ("50-100k", {"depense_hab_total": (70.25, 2024), "cout_unite_repas": (8.0, 2024)}),
    }
    result = import_mapped(tmp_path, NATIONAL.encode(), "comptes.csv", again)
    assert (result.organisations, result.values) == (3, 5)


def test_a_mapping_that_does_not_fit_the_file_is_refused_whole(tmp_path):
    wrong = ReferenceMapping(
        name="faux",
        organisation="Code",
        stratum=None,
        population="Population",
        fixed_year=2024,
        indicators={"depense_hab_total": "DRF"},
    )
    with pytest.raises(BenchmarkError) as caught:
        import_mapped(tmp_path, NATIONAL.encode(), "comptes.csv", wrong)
    assert caught.value.messages[:2] == [
        "ligne 1 : colonne « Code » (organisation) absente du fichier",
        "ligne 1 : colonne « DRF » (indicateur depense_hab_total) absente du fichier",
    ]
    with pytest.raises(BenchmarkError, match="l'une des deux est obligatoire"):
        save_mapping(
            tmp_path,
            ReferenceMapping(
                name="x", organisation="SIREN", fixed_year=2024, indicators={"depense_hab_total": "a"}
            ),
        )
    with pytest.raises(BenchmarkError, match="n'est pas un indicateur standard"):
        save_mapping(
            tmp_path,
            ReferenceMapping(
                name="x", organisation="SIREN", stratum="s", fixed_year=2024, indicators={"chats": "a"}
            ),
        )
    assert not (tmp_path / "benchmark" / "comptes.csv").exists()
    bad = NATIONAL.replace("55,5", "beaucoup")
    good = ReferenceMapping(
        name="ok",
        organisation="SIREN",
        population="Population",
        year="Exercice",
        indicators={"depense_hab_total": "DRF par habitant"},
    )
    with pytest.raises(BenchmarkError) as caught:
        import_mapped(tmp_path, bad.encode(), "comptes.csv", good)
    assert "« beaucoup » n'est pas un nombre (après correspondance « ok »)" in caught.value.messages[0]
