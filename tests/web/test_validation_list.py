"""The direction's validation list: target and status of each value, a select-all, newest first or
grouped by service (the demo's 2026-09 values of the seniors service await validation)."""

from __future__ import annotations

import re


def test_the_list_shows_target_status_and_a_select_all(login_as):
    page = login_as("direction").get("/saisie/validation?periode=2026-09").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" name="mesure" value="(\d+)"[^>]*>', page)
    assert boxes
    assert '<th scope="col" class="num">Cible</th>' in page and '<th scope="col">Statut</th>' in page
    assert re.search(r'class="status status-(green|amber|red|untargeted)"', page)
    assert 'data-select-all=""' in page and "js/select_all.js" in page
    assert not re.search(r'name="mesure" value="\d+" id="m-\d+" checked', page)
    assert f"Tout cocher ({len(boxes)} valeurs)" in page
    ticked = login_as("direction").get("/saisie/validation?periode=2026-09&tout=1").get_data(as_text=True)
    assert len(re.findall(r'name="mesure" value="\d+" id="m-\d+" checked', ticked)) == len(boxes)
    assert "Tout décocher" in ticked


def test_the_list_can_be_grouped_by_service(login_as):
    page = (
        login_as("direction").get("/saisie/validation?periode=2026-09&ordre=service").get_data(as_text=True)
    )
    groups = re.findall(
        r'<tbody id="(groupe-\d+)">\s*<tr><th scope="rowgroup" colspan="9">(.*?)</th>', page, re.S
    )
    assert groups
    for group_id, heading in groups:
        assert f'data-select-all="{group_id}"' in heading and "Tout cocher : " in heading
    assert "Pôle seniors et maintien à domicile (6 valeurs)" in groups[0][1]
    first_group = page.split('<tbody id="groupe-1">')[1].split("</tbody>")[0]
    assert first_group.count('name="mesure"') == 6
    assert '<option value="service" selected>Par service</option>' in page


def test_an_unknown_order_is_refused_in_french(login_as):
    response = login_as("direction").get("/saisie/validation?ordre=n%27importe")
    assert response.status_code == 400
    assert "Ordre « n&#39;importe » inconnu" in response.get_data(as_text=True)


def test_a_service_manager_cannot_open_the_list(login_as):
    assert login_as("responsable.seniors").get("/saisie/validation").status_code == 403
