"""The catalogue page in Chromium: the direction ticks an activity, keeps its standard indicators
and finds them created; the page has no accessibility violation and fits a phone's width."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, describe, nav_link, sign_in
from tests.conftest import rows_added_are_removed


def test_direction_ticks_teleassistance_and_gets_it_with_its_indicators(live_server, browser, engine):
    with rows_added_are_removed(engine):
        for width in (1280, 375):
            context = browser.new_context(
                locale="fr-FR", viewport={"width": width, "height": 900}, bypass_csp=True
            )
            page = context.new_page()
            sign_in(page, live_server, "direction")
            nav_link(page, "Catalogue").click()
            page.wait_for_url(live_server + "/catalogue")
            expect(page.get_by_role("heading", name="Catalogue de départ")).to_be_visible()
            violations = axe_violations(page)
            assert violations == [], describe(violations)
            wide, shown = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert wide <= shown, f"{width} px : la page déborde ({wide} > {shown})"
            portage = page.locator("input[name=activite][value=A_PORTAGE]")
            assert portage.is_checked() and portage.is_disabled()  # the demo has it
            context.close()
        page = browser.new_context(locale="fr-FR", bypass_csp=True).new_page()
        sign_in(page, live_server, "direction")
        page.goto(live_server + "/catalogue")
        page.get_by_role("checkbox", name="Téléassistance A_TELEASSISTANCE").check()
        page.get_by_role("button", name="Créer ce qui est coché").click()
        page.wait_for_url(live_server + "/catalogue")
        expect(page.get_by_text("Créés : 1 activité(s)")).to_be_visible()
        expect(page.get_by_text("Créés : 2 indicateur(s)")).to_be_visible()
        tele = page.locator("input[name=activite][value=A_TELEASSISTANCE]")
        assert tele.is_checked() and tele.is_disabled()
        page.goto(live_server + "/activites")
        expect(page.get_by_role("link", name="Téléassistance")).to_be_visible()
