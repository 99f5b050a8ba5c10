"""The objective and indicator forms, as a direction member fills them."""

from __future__ import annotations

from tests.conftest import csrf_token


def test_a_bad_number_in_the_indicator_form_is_shown_on_its_field(login_as):
    client = login_as("direction")
    page = client.get("/indicateurs/nouveau").get_data(as_text=True)
    response = client.post("/indicateurs/nouveau", data={
        "csrf_token": csrf_token(page), "code": "essai_nombre", "label": "Essai", "type": "output", "unit": "personnes",
        "direction": "higher", "frequency": "monthly", "perspective": "users", "decimals": "0", "weight": "1",
        "baseline_value": "1.234,5",
    })  # fmt: skip
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Valeur de référence : « 1.234,5 » mélange point et virgule" in text


def test_the_cascade_page_lists_strategic_then_operational_objectives(login_as):
    page = login_as("elu").get("/objectifs").get_data(as_text=True)
    assert page.index("OS1") < page.index("OO1.1") < page.index("OS2")
    assert "Ajouter un sous-objectif" not in page  # an élu reads the cascade, does not edit it
