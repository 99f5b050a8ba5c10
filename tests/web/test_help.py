"""Help where it is needed (issue 24, item 1): the glossary pages, the reading guides, each page's
« À quoi sert cette page ? » and the term() links, for every role."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from services import glossary
from tests.conftest import sign_in

ROLES = ("admin", "direction", "responsable.seniors", "finances", "elu", "partenaire")

#: GET endpoints that do not render a page for a signed-in person, and why.
NOT_PAGES = {
    "static": "fichiers statiques",
    "home.health": "JSON pour la supervision",
    "auth.login": "page de connexion, vue sans compte",
    "participation.answer": "questionnaire public des habitants, sans compte",
    "participation.thanks": "remerciement public des habitants, sans compte",
    "tasks.download": "téléchargement d'un fichier",
    "report.pdf": "fichier PDF",
    "report.word": "fichier Word",
    "report.annex": "classeur Excel",
    "reviews.pack": "classeur Excel",
    "scenarios.problem_file": "fichier de problème (LP/MPS/JSON)",
    "scenarios.compare_export": "classeur Excel",
    "imports.template": "classeur Excel",
    "surveys.template": "classeur Excel",
    "model.export": "classeur Excel",
}


def _is_file_or_json(endpoint: str) -> bool:
    return endpoint.startswith("api.") or endpoint.endswith(".export")


def test_every_page_a_signed_in_person_sees_has_its_help(app: Flask) -> None:
    pages = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set())
        and rule.endpoint not in NOT_PAGES
        and not _is_file_or_json(rule.endpoint)
    }
    helps = glossary.page_helps()
    assert sorted(pages - set(helps)) == []
    # no text for a page that no longer exists, and each text is 1 to 4 sentences
    assert sorted(set(helps) - pages) == []
    for endpoint, found in helps.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", found.text) if s]
        assert 1 <= len(sentences) <= 4, endpoint
        assert found.title, endpoint
        for _label, target in found.links:
            assert target.startswith("/aide/") or target in pages, (endpoint, target)


@pytest.mark.parametrize("login", ROLES)
def test_every_role_reads_the_help_the_glossary_and_the_guides(app: Flask, demo, login: str) -> None:
    client = sign_in(app.test_client(), login)
    index = client.get("/aide/")
    assert index.status_code == 200
    page = client.get("/aide/glossaire").get_data(as_text=True)
    for entry in glossary.entries():
        assert f'id="{entry.slug}"' in page
    assert "Dans Pilotis" in page and 'href="/couts"' in page
    iris = client.get("/aide/glossaire/iris").get_data(as_text=True)
    assert "INSEE" in iris and "Source" in iris
    assert client.get("/aide/glossaire/inconnu").status_code == 404
    for name in ("tableau-de-bord", "scenario", "finances"):
        guide = client.get(f"/aide/guides/{name}").get_data(as_text=True)
        assert 'class="term"' in guide and "/aide/glossaire/" in guide
    assert client.get("/aide/guides/inconnu").status_code == 404


def test_the_help_needs_a_sign_in(app: Flask) -> None:
    response = app.test_client().get("/aide/glossaire")
    assert response.status_code in (302, 401)


def test_a_page_shows_what_it_is_for_and_links_its_terms(login_as) -> None:
    client = login_as("elu")
    page = client.get("/scenarios").get_data(as_text=True)
    assert page.count('class="page-help"') == 1
    assert "À quoi sert cette page ?" in page and "/aide/guides/scenario" in page
    guide = client.get("/aide/guides/scenario").get_data(as_text=True)
    link = re.search(
        r'<a class="term" href="/aide/glossaire/prix-implicite" title="([^"]+)" aria-describedby="([^"]+)">',
        guide,
    )
    assert link, "the term is a link with its short definition"
    assert f'<span hidden id="{link.group(2)}">' in guide


def test_the_abs_report_ends_with_its_glossary(login_as) -> None:
    page = login_as("direction").get("/abs").get_data(as_text=True)
    annex = page[page.index('id="section-glossaire"') :]
    for name in ("ABS", "IRIS", "secret statistique", "Filosofi"):
        entry = glossary.lookup(name)
        assert entry is not None and f'id="glossaire-{entry.slug}"' in annex


@pytest.mark.parametrize(
    "path",
    [
        "/tableau-de-bord/",
        "/besoins",
        "/coherence",
        "/couts",
        "/couts/modele",
        "/scenarios",
        "/observatoire",
        "/revues",
    ],
)
def test_the_main_pages_link_their_terms_to_the_glossary(login_as, path: str) -> None:
    page = login_as("direction").get(path).get_data(as_text=True)
    assert page.count('class="page-help"') == 1, path
    slugs = re.findall(r'<a class="term" href="/aide/glossaire/([a-z0-9-]+)"', page)
    assert slugs and all(glossary.by_slug(s) for s in slugs), path
