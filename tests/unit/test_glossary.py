"""The glossary (services/data/glossary.toml): complete entries, every term marked in a template has
one, and docs/glossaire.md is generated from the same file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scorecard.errors import UserError
from services import glossary

ROOT = Path(__file__).resolve().parents[2]
#: {{ term("IRIS") }} or {{ term('coût complet', "coûts complets") }} in a template
MARK = re.compile(r"""\bterm\(\s*(["'])(.+?)\1""")
REQUIRED = [
    "ABS",
    "IRIS",
    "EPCI",
    "CCAS",
    "CIAS",
    "M57",
    "M22",
    "M14",
    "coût complet",
    "coût unitaire",
    "prix implicite",
    "secret statistique",
    "taux de couverture",
    "besoin couvert",
    "besoin pondéré",
    "indicateur",
    "cible",
    "tolérance",
    "revue",
    "période close",
    "tableau de bord prospectif",
    "perspective",
    "objectif",
    "activité",
    "inducteur de coût",
    "clé de répartition",
    "scénario d'arbitrage",
    "enveloppe",
    "ETP",
    "Filosofi",
    "taux de pauvreté",
    "RSA",
    "AAH",
    "APL",
    "allocataire CAF",
    "QPV",
    "millésime",
    "strate",
    "quartile",
]


def marked_terms() -> dict[str, set[str]]:
    """Each term marked with term("…") in the templates, and the templates that mark it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for match in MARK.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(2), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_term_marked_in_a_template_has_an_entry() -> None:
    marked = marked_terms()
    assert len(marked) >= 20  # the scan finds the marks (a broken pattern would find none)
    missing = {name: sorted(where) for name, where in marked.items() if glossary.lookup(name) is None}
    assert missing == {}, "terms marked in templates with no glossary entry"


def test_the_scan_sees_a_mark_with_no_entry() -> None:
    text = "<p>{{ term(\"IRIS\") }} et {{ term('indice de Gini') }}</p>"
    names = [m.group(2) for m in MARK.finditer(text)]
    assert names == ["IRIS", "indice de Gini"]
    assert glossary.lookup("IRIS") is not None and glossary.lookup("indice de Gini") is None


@pytest.mark.parametrize("name", REQUIRED)
def test_the_required_terms_are_defined(name: str) -> None:
    assert glossary.lookup(name) is not None, name


def test_each_entry_has_a_definition_a_source_and_pages_that_exist() -> None:
    entries = glossary.entries()
    assert len({e.slug for e in entries}) == len(entries)
    names = [glossary.sort_key(n) for e in entries for n in (e.term, *e.aliases)]
    assert len(names) == len(set(names)), "a name belongs to two entries"
    pages = set(glossary.page_helps())
    for e in entries:
        assert len(e.definition) > 80 and e.source and e.short, e.term
        assert e.pages and set(e.pages) <= pages, e.term
    terms = [glossary.sort_key(e.term) for e in entries]
    assert terms == sorted(terms)


def test_lookup_ignores_case_accents_and_takes_aliases() -> None:
    assert (
        glossary.lookup("cout complet") == glossary.lookup("Coût complet") == glossary.by_slug("cout-complet")
    )
    assert glossary.lookup("APL") == glossary.by_slug("allocations-logement")
    assert [e.term for e in glossary.used_in(["IRIS", "ABS", "abs", "inconnu"])] == ["ABS", "IRIS"]


def test_the_docs_are_generated_from_the_glossary() -> None:
    doc = (ROOT / "docs" / "glossaire.md").read_text(encoding="utf-8")
    assert doc == glossary.markdown(), "docs/glossaire.md is stale: run scripts/glossary_doc.py"
    assert "## prix implicite" in doc and "Source : " in doc


def test_a_malformed_entry_is_refused_with_its_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "glossary.toml"
    bad.write_text('[[entry]]\nterm = "X"\nslug = "x"\nshort = "s"\ndefinition = "d"\n', encoding="utf-8")
    monkeypatch.setattr(glossary, "GLOSSARY_FILE", bad)
    glossary.entries.cache_clear()
    try:
        with pytest.raises(UserError, match="entrée 1 : source manquant"):
            glossary.entries()
    finally:
        glossary.entries.cache_clear()


def test_the_abs_report_annex_defines_every_term_it_lists() -> None:
    annex = glossary.used_in(list(glossary.ABS_REPORT_TERMS))
    assert len(annex) == len(glossary.ABS_REPORT_TERMS)
    assert (ROOT / "templates" / "partials" / "glossary_annex.html").exists()
