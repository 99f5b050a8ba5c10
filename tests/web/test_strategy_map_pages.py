"""The strategy map page: what each role sees, and the direction drawing and removing links."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from models import AuditEntry, Objective, ObjectiveLink
from pilotis.database import write_session
from tests.conftest import csrf_token

PERIOD = "2025-T4"


@pytest.fixture
def no_links(engine, demo, other_demo):
    """The demo's links are put aside for the test and given back afterwards."""

    def pairs():
        with write_session(engine) as session:
            return [
                (link.organisation_id, link.source_id, link.target_id)
                for link in session.scalars(select(ObjectiveLink))
            ]

    def reset(rows):
        with write_session(engine) as session:
            session.execute(delete(ObjectiveLink))
            for org, source, target in rows:
                session.add(ObjectiveLink(organisation_id=org, source_id=source, target_id=target))

    kept = pairs()
    reset([])
    yield
    reset(kept)


@pytest.fixture
def ids(engine, demo, other_demo):
    with write_session(engine) as session:
        rows = session.execute(select(Objective.organisation_id, Objective.code, Objective.id)).all()
    own = {code: i for org, code, i in rows if org == demo.organisation_id}
    other = {code: i for org, code, i in rows if org == other_demo.organisation_id}
    return own, other


def draw(client, source: int, target: int, period: str = PERIOD):
    page = client.get(f"/carte-strategique?periode={period}").get_data(as_text=True)
    return client.post(
        "/carte-strategique/liens",
        data={"csrf_token": csrf_token(page), "source_id": source, "target_id": target, "periode": period},
    )


def test_the_direction_sees_the_map_the_text_view_and_the_link_form(login_as, ids, no_links):
    own, _ = ids
    client = login_as("direction")
    response = client.get(f"/carte-strategique?periode={PERIOD}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "Carte stratégique — période 2025-T4" in svg
    assert "Mission" in svg and "Garantir à chaque habitant" in svg
    for label in ("Usagers et citoyens", "Finances", "Processus internes", "Apprentissage et organisation"):
        assert label in svg
    # every objective is a link to its sheet, named by its code, status, score, trend and owner
    for code in ("OS1", "OO1.1", "OO3.2", "OO4.3", "OO5.2"):
        assert f'href="/objectifs/{own[code]}"' in svg
    box = re.search(rf'<a class="map-box" href="/objectifs/{own["OO1.1"]}">(.*?)</a>', svg, re.S).group(1)
    words = re.sub(r"<[^>]+>", " ", re.sub(r'<tspan aria-hidden="true">[^<]*</tspan>', "", box))
    words = re.sub(r"[ \t\n]+", " ", words).strip()  # the no-break space before % stays
    assert words.startswith("OO1.1 Satisfaisant Étendre le portage de repas")
    assert re.search(r"\d+\xa0% (en amélioration|en dégradation|stable|· sans tendance) Resp\. : \w", words)
    # colour and words: the box's fill follows the status, and the status is written in it
    assert "Satisfaisant" in svg and 'fill="#e6f4ea"' in svg
    assert "Vue texte de la carte" in html and "Tracer un lien" in html
    assert "Tendance (vs 2025-T3)" in html
    assert ' style="' not in html  # the CSP forbids inline styles
    scorecard = client.get(f"/tableau-de-bord/?periode={PERIOD}").get_data(as_text=True)
    assert f'href="/carte-strategique?periode={PERIOD}"' in scorecard


def test_the_default_period_and_a_bad_one(login_as):
    client = login_as("elu")
    assert client.get("/carte-strategique").status_code == 200
    response = client.get("/carte-strategique?periode=2025-T5")
    assert response.status_code == 400
    assert "non reconnue" in response.get_data(as_text=True)
    assert "<svg" not in response.get_data(as_text=True).split("<main", 1)[1]


def test_the_direction_draws_a_link_which_the_map_and_the_journal_show(login_as, ids, no_links, engine):
    own, _ = ids
    client = login_as("direction")
    response = draw(client, own["OO5.1"], own["OO4.1"])
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/carte-strategique?periode={PERIOD}#liens")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Lien enregistré : « OO5.1 » contribue à « OO4.1 »." in html
    assert html.count('class="edge edge-contribution"') == 1
    assert "Former les agents et fidéliser les équipes" in html.split('id="liens"', 1)[1]
    with write_session(engine) as session:
        link = session.scalar(select(ObjectiveLink).where(ObjectiveLink.source_id == own["OO5.1"]))
        entry = session.scalar(  # the latest: another test may have journaled a link with this id
            select(AuditEntry)
            .where(AuditEntry.table_name == "objective_links", AuditEntry.row_id == str(link.id))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        assert entry.action == "insert" and entry.user_id is not None
        link_id, version = link.id, link.version
    assert client.get("/journal/?table=objective_links").status_code == 200

    # removed from the same page, with the version it showed
    page = client.get(f"/carte-strategique?periode={PERIOD}").get_data(as_text=True)
    stale = client.post(
        "/carte-strategique/liens/suppression",
        data={"csrf_token": csrf_token(page), "lien": link_id, "version": version + 1, "periode": PERIOD},
    )
    assert stale.status_code == 409 and "modifié entre-temps" in stale.get_data(as_text=True)
    removed = client.post(
        "/carte-strategique/liens/suppression",
        data={"csrf_token": csrf_token(page), "lien": link_id, "version": version, "periode": PERIOD},
    )
    assert removed.status_code == 303
    html = client.get(removed.headers["Location"]).get_data(as_text=True)
    assert "Lien supprimé : « OO5.1 » ne contribue plus à « OO4.1 »." in html
    assert 'class="edge edge-contribution"' not in html
    again = client.post(
        "/carte-strategique/liens/suppression",
        data={"csrf_token": csrf_token(page), "lien": link_id, "version": version, "periode": PERIOD},
    )
    assert again.status_code == 404


def test_a_refused_link_is_explained_on_its_field_and_nothing_is_written(login_as, ids, no_links, engine):
    own, other = ids
    client = login_as("direction")
    response = draw(client, own["OO1.1"], own["OO2.1"])
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(
        r'id="target_id-err">« OO1\.1 » et « OO2\.1 » sont tous deux dans la perspective « Usagers et citoyens »',
        html,
    )
    assert 'aria-invalid="true"' in html
    foreign = draw(client, own["OO5.1"], other["OO4.1"])
    assert foreign.status_code == 400
    assert "Objectif d&#39;arrivée inconnu dans votre organisation." in foreign.get_data(as_text=True)
    empty = draw(client, "", "")
    assert empty.status_code == 400 and "Ce champ est obligatoire." in empty.get_data(as_text=True)
    with write_session(engine) as session:
        assert session.scalars(select(ObjectiveLink)).all() == []


def test_another_organisations_link_cannot_be_removed(login_as, ids, no_links, engine, other_demo):
    _, other = ids
    with write_session(engine) as session:
        link = ObjectiveLink(
            organisation_id=other_demo.organisation_id, source_id=other["OO5.1"], target_id=other["OO4.1"]
        )
        session.add(link)
        session.flush()
        link_id = link.id
    client = login_as("direction")
    page = client.get("/carte-strategique").get_data(as_text=True)
    response = client.post(
        "/carte-strategique/liens/suppression", data={"csrf_token": csrf_token(page), "lien": link_id}
    )
    assert response.status_code == 404
    with write_session(engine) as session:
        assert session.get(ObjectiveLink, link_id) is not None


def test_an_elu_reads_the_map_and_cannot_draw(login_as, ids, no_links):
    own, _ = ids
    client = login_as("elu")
    html = client.get(f"/carte-strategique?periode={PERIOD}").get_data(as_text=True)
    assert "Tracer un lien" not in html and "Supprimer" not in html
    assert f'href="/objectifs/{own["OS2"]}"' in html
    token = csrf_token(client.get("/compte/mot-de-passe").get_data(as_text=True))
    response = client.post(
        "/carte-strategique/liens",
        data={"csrf_token": token, "source_id": own["OO5.1"], "target_id": own["OO4.1"]},
    )
    assert response.status_code == 403


def test_a_service_manager_is_shown_only_sheets_they_can_open(login_as, ids):
    own, _ = ids
    client = login_as("responsable.seniors")
    html = client.get(f"/carte-strategique?periode={PERIOD}").get_data(as_text=True)
    targets = set(re.findall(r'href="/objectifs/(\d+)"', html))
    assert str(own["OO1.1"]) in targets and str(own["OS1"]) not in targets
    assert "OS1" in html  # shown, as the objective its own ones cascade from, without a link
    for objective_id in targets:
        assert client.get(f"/objectifs/{objective_id}").status_code == 200
