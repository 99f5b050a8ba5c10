"""Playwright driving Debian's Chromium against a live server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Chromium est introuvable : installez le paquet Debian « chromium » (voir scripts/check.sh)."
        )
    return path


@pytest.fixture
def live_server(app, demo) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        # a request still being served (a PDF, under load) holds a database connection: let it end
        # before the app's engine is disposed, or the connection is collected in a later test
        deadline = time.monotonic() + 60
        for request in threading.enumerate():
            if request.name.endswith("(process_request_thread)"):
                request.join(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture(scope="session")
def chromium(chromium_path):  # type: ignore[no-untyped-def]
    """One Chromium for the whole session: starting it costs about a second per test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def browser(chromium):  # type: ignore[no-untyped-def]
    """The session's Chromium; whatever context a test opened is closed after it (cookies, storage
    and pages do not outlive their test, even when it fails before closing them)."""
    yield chromium
    for context in list(chromium.contexts):
        context.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    # bypass_csp lets the tests inject axe-core; the pages themselves keep their CSP
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Any, base: str, login: str, password: str = "demo-pilotis-2026") -> None:
    page.goto(base + "/connexion")
    page.get_by_label("Adresse électronique").fill(f"{login}@carcassonne.pilotis.example")
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(base + "/")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """WCAG 2.1 A and AA violations that axe-core (from npm, loaded from disk) finds."""
    if not AXE.exists():
        pytest.fail("axe-core est introuvable : lancez « npm ci » (voir scripts/check.sh).")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, ensure_ascii=False, indent=1)


def nav_link(page: Any, name: str) -> Any:
    """The main menu's link ``name``, its group opened first (the menu folds its links into
    groups, and on a phone the whole menu under « Menu »)."""
    nav = page.get_by_role("navigation", name="Navigation principale")
    toggle = nav.locator("summary.nav-toggle")
    if toggle.is_visible() and not nav.locator("details.nav-all").evaluate("d => d.open"):
        toggle.click()
    group = nav.locator(".nav-group").filter(has=page.locator(f'a:text-is("{name}")'))
    if group.count() and not group.locator("details").evaluate("d => d.open"):
        group.locator("summary").click()
    return nav.get_by_role("link", name=name, exact=True)
