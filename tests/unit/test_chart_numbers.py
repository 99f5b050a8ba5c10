"""Chart labels are written in the French number format, as the rest of the pages."""

from __future__ import annotations

import re

from views.charts import Flow, Point, coverage_bars_svg, history_svg, sankey_svg

NBSP, THIN = "\u00a0", "\u202f"


def test_coverage_bars_give_rates_with_a_decimal_comma_and_a_no_break_space():
    svg = str(
        coverage_bars_svg(
            [("Seniors isolés", [0.305, 1.0]), ("Familles", [None, 0.0649])],
            ["Avant", "Scénario"],
            title="Couverture",
        )
    )
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert "Seniors isolés — Avant : 30,5" + NBSP + "%" in titles
    assert "Seniors isolés — Scénario : 100,0" + NBSP + "%" in titles
    assert "Familles — Scénario : 6,5" + NBSP + "%" in titles
    ticks = re.findall(r'text-anchor="middle">([^<]*)</text>', svg)
    assert ticks == ["0" + NBSP + "%", "50" + NBSP + "%", "100" + NBSP + "%"]
    assert not re.search(r"\d\.\d", re.sub(r'="[^"]*"', "", svg))  # no decimal point in any text


def test_axis_and_node_labels_are_french_numbers():
    svg = str(
        history_svg([Point("2025-T1", 12.25, 14.0), Point("2025-T2", 15.5, 14.0)], title="Taux", unit="%")
    )
    labels = re.findall(r'text-anchor="end"[^>]*>([^<]*)</text>', svg)
    assert labels and all("." not in label for label in labels)
    assert any("," in label for label in labels)
    flows = [Flow("Personnel", "Portage de repas", 123456.0, 0, 3)]
    sankey = str(sankey_svg(flows, title="Flux", headings=["Ressources", "", "", "Activités"]))
    assert f"123{THIN}456{NBSP}€" in sankey  # the band's title
    assert f"123{NBSP}k{NBSP}€" in sankey  # the node's label, shortened
