"""The strategy map in Chromium: the direction reaches it from the scorecard, draws a link,
opens an objective from the keyboard; the page has no accessibility violation, fits a phone's
width (the map scrolls in its own frame) and prints whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import ObjectiveLink
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, sign_in

PERIOD = "2025-T4"


@pytest.fixture
def no_links(engine, demo):
    """The demo's links are put aside for the test and given back afterwards."""
    with write_session(engine) as session:
        kept = [(k.organisation_id, k.source_id, k.target_id) for k in session.scalars(select(ObjectiveLink))]
        session.execute(delete(ObjectiveLink))
    yield
    with write_session(engine) as session:
        session.execute(delete(ObjectiveLink))
        for org, source, target in kept:
            session.add(ObjectiveLink(organisation_id=org, source_id=source, target_id=target))


def page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_direction_draws_a_link_and_opens_an_objective_from_the_keyboard(
    live_server, browser, no_links, tmp_path: Path
):
    page = browser.new_context(
        locale="fr-FR", viewport={"width": 1366, "height": 900}, bypass_csp=True
    ).new_page()
    sign_in(page, live_server, "direction")
    page.goto(f"{live_server}/tableau-de-bord/?periode={PERIOD}")
    page.get_by_role("link", name="Carte stratégique de cette période").click()
    page.wait_for_url(f"{live_server}/carte-strategique?periode={PERIOD}")
    expect(page.get_by_role("heading", name="Carte stratégique", exact=True)).to_be_visible()

    page.get_by_label("Cet objectif…").select_option(
        label=page.locator("#source_id option", has_text="OO5.1 —").inner_text()
    )
    page.get_by_label("… contribue à cet objectif").select_option(
        label=page.locator("#target_id option", has_text="OO4.1 —").inner_text()
    )
    page.get_by_role("button", name="Enregistrer le lien").click()
    assert "Lien enregistré : « OO5.1 » contribue à « OO4.1 »." in page.get_by_role("status").inner_text()
    expect(page.locator("svg.strategy-map path.edge-contribution")).to_have_count(1, timeout=30_000)
    expect(page.get_by_role("row", name="OO5.1").get_by_role("cell", name="OO4.1").first).to_be_visible()

    problems = axe_violations(page)
    assert problems == [], describe(problems)
    width, client = page_width(page)
    assert width <= client
    page.screenshot(path=str(tmp_path / "carte-1366.png"), full_page=True)
    page.locator(".strategy-map-frame").screenshot(path=str(tmp_path / "carte-svg-1366.png"))

    # the boxes are links in the tab order: from the period button, Tab reaches the first box
    page.get_by_role("button", name="Afficher").focus()
    for _ in range(6):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        if focused.startswith("OS1"):
            break
    assert focused.startswith("OS1") and "Satisfaisant" in focused
    page.screenshot(path=str(tmp_path / "carte-focus.png"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/objectifs/*")
    assert "OS1" in page.locator("main").inner_text()

    # printed: no form, no scrolling frame, the whole map on the page
    page.goto(f"{live_server}/carte-strategique?periode={PERIOD}")
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Enregistrer le lien").is_visible()
    assert page.locator(".strategy-map-frame").evaluate("e => getComputedStyle(e).overflowX") == "visible"
    page.set_viewport_size({"width": 794, "height": 1123})  # an A4 page at 96 dpi
    assert page.locator(".strategy-map").evaluate("e => e.getBoundingClientRect().right") <= 794
    page.screenshot(path=str(tmp_path / "carte-impression.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.emulate_media(media="screen")

    page.get_by_role("button", name="Supprimer le lien : OO5.1 contribue à OO4.1").click()
    assert "Lien supprimé" in page.get_by_role("status").inner_text()
    assert page.locator("svg.strategy-map path.edge-contribution").count() == 0


@pytest.mark.parametrize("login", ["elu", "responsable.seniors"])
def test_the_map_on_a_phone_fits_the_screen_and_has_no_accessibility_violation(
    live_server, browser, login, tmp_path: Path
):
    page = browser.new_context(
        locale="fr-FR", viewport={"width": 375, "height": 800}, bypass_csp=True
    ).new_page()
    sign_in(page, live_server, login)
    page.goto(f"{live_server}/carte-strategique?periode={PERIOD}")
    width, client = page_width(page)
    assert width <= client, f"la page fait {width} px pour un écran de {client} px"
    frame = page.locator(".strategy-map-frame")
    assert frame.evaluate("e => e.scrollWidth > e.clientWidth")  # the map scrolls inside its frame
    expect(page.get_by_role("heading", name="Vue texte de la carte")).to_be_visible()
    problems = axe_violations(page)
    assert problems == [], describe(problems)
    page.screenshot(path=str(tmp_path / f"carte-375-{login}.png"), full_page=True)
