"""The home page as a person sees it in Chromium."""

from __future__ import annotations

from pathlib import Path


def test_home_page_renders_in_chromium_with_local_assets_only(live_server, page, tmp_path: Path):
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server) else outside.append(r.url))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    response = page.goto(live_server + "/")
    assert response is not None and response.status == 200
    assert page.title() == "Accueil — Pilotis"
    assert page.get_by_role("heading", level=1).inner_text() == "CCAS de Carcassonne (démonstration)"
    assert page.get_by_role("heading", name="Besoins prioritaires").is_visible()
    # the stylesheet is applied (served locally): the header has the accent background
    header_colour = page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor")
    assert header_colour == "rgb(31, 78, 140)"
    # keyboard: the first Tab reaches the skip link, which leads to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"

    page.screenshot(path=str(tmp_path / "accueil.png"), full_page=True)
    assert (tmp_path / "accueil.png").stat().st_size > 10_000
    assert outside == [] and errors == []
