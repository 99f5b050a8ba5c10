"""Explanations in French from the solver's information, and the diagnosis of infeasible scenarios."""

from __future__ import annotations

import dataclasses

import pytest

from optimizer import (
    ActivitySpec,
    Coverage,
    NeedSpec,
    Problem,
    ServiceSpec,
    diagnose_infeasibility,
    explain,
    generate_problem,
    solve,
)
from optimizer.fr import format_euros, format_number, format_percent, nice_step, plural
from tests.unit.test_optimizer_model import fixed_cost, floor_problem, staff_problem, two_needs


def plain(text: str) -> str:
    """French typography's no-break spaces as plain spaces, for readable expectations."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def sentences(explanation) -> str:
    return plain("\n".join(explanation.sentences))


def with_expensive_activity(unit_cost: float = 100.0) -> Problem:
    """two_needs plus C: 100 € per person of N2 (0.01 per euro) when B costs 50 (0.02)."""
    base = two_needs()
    return dataclasses.replace(
        base,
        activities=(*base.activities, ActivitySpec("C", "S", unit_cost, name="Permanence")),
        coverages=(*base.coverages, Coverage("C", "N2", 1.0)),
    )


def test_french_numbers():
    assert plain(format_euros(1_250_000)) == "1 250 000 €"
    assert format_euros(1_250_000) == "1\u202f250\u202f000\u00a0€"
    assert plain(format_euros(12.345)) == "12,35 €"
    assert format_number(12.5) == "12,5"
    assert format_number(0.0021) == "0,0021"
    assert plain(format_number(1234.6)) == "1 235"
    assert plain(format_percent(0.125)) == "12,5 %" and plain(format_percent(-0.1)) == "-10 %"
    assert (
        plural(1.5, "personne", "personnes") == "personne"
        and plural(2, "personne", "personnes") == "personnes"
    )
    assert (nice_step(62_000), nice_step(1_900), nice_step(0.3)) == (50_000, 1_000, 1)


def test_envelope_shadow_price_with_range_and_step():
    problem = two_needs()
    e = explain(problem, solve(problem), step=1_000)
    text = sentences(e)
    assert (
        "1 € de plus couvrirait 0,02 besoin pondéré (valable pour une enveloppe entre 10 000 € et 15 000 €)."
        in text
    )
    assert "Les 1 000 € suivants couvriraient 20 besoins pondérés de plus." in text
    assert "À l'inverse, 1 000 € de moins en feraient perdre 20 besoins pondérés." in text
    envelope = e.binding[0]
    assert (envelope.name, envelope.label_fr) == ("envelope", "l'enveloppe")
    assert envelope.shadow_price == pytest.approx(0.02)
    assert (envelope.range_low, envelope.range_high) == (pytest.approx(10_000), pytest.approx(15_000))
    assert (envelope.step, envelope.step_value) == (1_000, pytest.approx(20))


def test_a_step_beyond_the_range_is_resolved_not_extrapolated():
    e = explain(two_needs(), solve(two_needs()))  # 100,000 € more: N2 is full after 3,000 €
    text = sentences(e)
    assert "Les 100 000 € suivants couvriraient 60 besoins pondérés de plus" in text
    assert "moins que 2 000 besoins pondérés au prix marginal : ce prix ne vaut que jusqu'à 15 000 €" in text


def test_unused_envelope_is_said():
    problem = dataclasses.replace(two_needs(), envelope=20_000.0)
    text = sentences(explain(problem, solve(problem)))
    assert "L'enveloppe n'est pas la contrainte limitante : 5 000 € restent non dépensés" in text


def test_reduced_cost_says_how_much_cheaper_an_activity_must_be():
    problem = with_expensive_activity()
    e = explain(problem, solve(problem))
    # C covers 1 weighted person per unit for 100 € when a euro buys 0.02: worth only 50 €
    assert plain(e.activity_reasons["C"]) == (
        "non financée (0 unité) : chaque unité de plus coûterait 1 besoin pondéré ; "
        "son coût unitaire devrait baisser de 50 € (de 100 € à 50 €) pour être financée davantage."
    )
    assert solve(with_expensive_activity(49.0)).volumes["C"] > 0  # and indeed, below 50 € it is funded
    assert solve(with_expensive_activity(51.0)).volumes["C"] == 0
    assert "au-dessus de son minimum" in e.activity_reasons["B"]


def test_activity_at_capacity_and_needs():
    problem = dataclasses.replace(
        two_needs(), activities=(ActivitySpec("A", "S", 100.0, capacity=80), ActivitySpec("B", "S", 50.0))
    )
    e = explain(problem, solve(problem))
    assert plain(e.activity_reasons["A"]).startswith("à sa capacité (80 unités)")
    assert plain(explain(two_needs(), solve(two_needs())).activity_reasons["B"]) == (
        "financée à 40 unités (aujourd'hui 60 : -33,3 %), au-dessus de son minimum : c'est à la marge que se règle "
        "son arbitrage."
    )
    assert "chaque unité de capacité en plus couvrirait 1 besoin pondéré de plus" in plain(
        e.activity_reasons["A"]
    )
    assert "Les capacités qu'il vaudrait le plus la peine d'augmenter" in sentences(e)
    assert plain(e.need_reasons["N1"]).startswith("couvert à 80 % (80 personnes sur 100)")
    full = explain(two_needs(), solve(two_needs()))
    assert plain(full.need_reasons["N1"]) == "entièrement couvert (100 personnes)."


def test_uncovered_need_says_what_it_would_cost():
    problem = dataclasses.replace(
        two_needs(),
        activities=(*two_needs().activities, ActivitySpec("D", "S", 400.0)),
        needs=(*two_needs().needs, NeedSpec("N3", 50, 1.0, name="Mobilité")),
        coverages=(*two_needs().coverages, Coverage("D", "N3", 2.0)),
    )
    e = explain(problem, solve(problem))
    assert plain(e.need_reasons["N3"]) == (
        "non couvert : l'activité la moins chère qui le couvre (« D ») coûte 200 € par personne, soit 200 € "
        "par besoin pondéré ; à la marge, 1 € couvre 0,02 besoin pondéré, soit 50 € par besoin pondéré."
    )


def test_floor_and_band_sentences():
    problem = floor_problem(legal_floor=3_000.0)
    e = explain(problem, solve(problem))
    text = sentences(e)
    assert (
        "Le service « Accueil » est à son plancher légal (3 000 €) : chaque euro de plancher en moins "
        "couvrirait 0,01 besoin pondéré de plus (valable pour un budget entre 2 000 € et 10 000 €) ; "
        "abaisser ce plancher de 100 € couvrirait 1 besoin pondéré de plus." in text
    )
    binding = {b.name: b for b in e.binding}
    assert binding["service_min[S1]"].step == -100 and binding["service_min[S1]"].step_value == pytest.approx(
        1
    )
    band = floor_problem(min_change=-0.10)
    text = sentences(explain(band, solve(band)))
    assert "Le service « Accueil » est à sa baisse maximale (-10 %, 4 500 € pour 5 000 € aujourd'hui)" in text


def test_staff_limit_sentence():
    text = sentences(explain(staff_problem(), solve(staff_problem())))
    assert (
        "La limite d'effectifs (10 ETP) est atteinte : 1 ETP de plus couvrirait 200 besoins pondérés de plus"
        in text
    )


def test_milp_explanation_uses_fixed_choices_and_resolves_the_step():
    e = explain(fixed_cost(), solve(fixed_cost()), step=1_500)
    text = sentences(e)
    assert "choix entiers (activités ouvertes ou fermées, postes) sont fixés" in text
    # 1,500 € more: 3,000 € open A (100 persons for 2,000 €) and B takes 40: 140, i.e. 80 more
    assert e.binding[0].step_value == pytest.approx(80)
    assert "ne fonctionne pas : son coût fixe de 1 000 €" in plain(e.activity_reasons["A"])


def test_uniform_cut_comparison():
    problem = dataclasses.replace(two_needs(), envelope=8_100.0)
    text = sentences(explain(problem, solve(problem)))
    # a 10 % cut of both (54 units each) covers 3 x 54 + 54 = 216; the optimum 81 units of A: 243
    assert "Une variation uniforme de toutes les activités (-10 %) couvrirait 216 besoins pondérés" in text
    assert "la répartition optimale en couvre 27 besoins pondérés de plus" in text


def test_rates_objective_is_read_in_points():
    problem = dataclasses.replace(two_needs(), objective="rates")
    text = sentences(explain(problem, solve(problem)))
    assert "points de taux pondérés" in text


# -- infeasible scenarios: never a bare "infeasible"


def services_problem(envelope: float, **changes) -> Problem:
    return Problem(
        activities=(
            ActivitySpec("A", "S1", 100.0, current_volume=100, name="Domiciliation"),
            ActivitySpec("B", "S2", 100.0, current_volume=100, name="Aide alimentaire"),
        ),
        needs=(NeedSpec("N1", 200, 1.0), NeedSpec("N2", 200, 1.0)),
        services=(ServiceSpec("S1", "Accueil", **changes), ServiceSpec("S2", "Insertion")),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=envelope,
    )


def test_legal_floors_above_the_envelope():
    problem = dataclasses.replace(
        services_problem(1_100_000.0),
        services=(
            ServiceSpec("S1", "Accueil", legal_floor=730_000.0),
            ServiceSpec("S2", "Insertion", legal_floor=500_000.0),
        ),
    )
    s = solve(problem)
    assert s.status == "infeasible" and "infaisable" in s.status_fr
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert (
        messages[0] == "Les planchers légaux (1 230 000 €) dépassent l'enveloppe de 1 100 000 € de 130 000 €."
    )
    assert any(m.startswith("– Le plancher légal du service") and "il manque" in m for m in messages)
    e = explain(problem, s)
    assert e.sentences[0].startswith("Le scénario est infaisable")
    assert plain(e.sentences[1]) == messages[0] and e.diagnosis


def test_stability_band_too_narrow_for_the_cut():
    problem = services_problem(18_600.0, min_change=-0.10)  # S1 10,000 € may fall to 9,000; S2 is free
    problem = dataclasses.replace(
        problem,
        services=(
            ServiceSpec("S1", "Accueil", min_change=-0.10),
            ServiceSpec("S2", "Insertion", min_change=-0.10),
        ),
    )
    s = solve(dataclasses.replace(problem, envelope=17_200.0))  # a 14 % cut
    assert s.status == "infeasible"
    messages = [plain(m) for m in diagnose_infeasibility(dataclasses.replace(problem, envelope=17_200.0))]
    assert messages[0] == (
        "Les baisses maximales autorisées ne permettent pas de descendre jusqu'à l'enveloppe : ensemble, les services "
        "ne peuvent passer sous 18 000 €, soit 800 € de plus que l'enveloppe de 17 200 €."
    )
    assert messages[1:] == [
        "La contrainte qui doit céder :",
        "– Les baisses maximales des services ne permettent pas d'atteindre l'enveloppe : il faudrait permettre "
        "à chacun 4 points de baisse de plus (« Accueil » -14 % au lieu de -10 %, « Insertion » -14 % au lieu de "
        "-10 %).",
    ]


def test_band_of_one_service_names_the_cut_needed():
    problem = Problem(
        activities=(ActivitySpec("A", "S1", 100.0, current_volume=100),),
        needs=(NeedSpec("N1", 200, 1.0),),
        services=(ServiceSpec("S1", "Accueil", min_change=-0.10),),
        coverages=(Coverage("A", "N1", 1.0),),
        envelope=8_600.0,
    )
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert (
        "– La baisse maximale de 10 % du service « Accueil » ne permet pas d'atteindre l'enveloppe : il faudrait "
        "une baisse de 14 % (8 600 € au lieu de 9 000 € au moins)." in messages
    )


def test_mandatory_volumes_and_staff():
    problem = Problem(
        activities=(
            ActivitySpec("A", "S1", 100.0, min_volume=120, staff_per_unit=0.1, name="Instruction RSA"),
        ),
        needs=(NeedSpec("N1", 200, 1.0),),
        services=(ServiceSpec("S1", "Accueil"),),
        coverages=(Coverage("A", "N1", 1.0),),
        envelope=10_000.0,
        staff_limit=10.0,
    )
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert (
        "Les volumes obligatoires coûtent 12 000 €, plus que l'enveloppe de 10 000 € (2 000 € de trop)."
        in messages
    )
    assert "Les volumes obligatoires demandent 12 ETP, plus que la limite de 10 ETP." in messages
    assert any(
        m.startswith("– Le volume obligatoire de l'activité « Instruction RSA » (120 unités)")
        for m in messages
    )


def test_floor_above_its_own_maximum_and_unreachable_coverage():
    problem = Problem(
        activities=(ActivitySpec("A", "S1", 100.0, current_volume=100, capacity=150),),
        needs=(NeedSpec("N1", 400, 1.0, name="Hébergement", min_coverage_rate=0.5),),
        services=(ServiceSpec("S1", "Accueil", max_change=0.15, legal_floor=12_000.0),),
        coverages=(Coverage("A", "N1", 1.0),),
        envelope=50_000.0,
    )
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert (
        "Le plancher légal du service « Accueil » (12 000 €) dépasse sa hausse maximale autorisée (+15 % : 11 500 €)."
        in messages
    )
    assert (
        "Le besoin « Hébergement » ne peut être couvert à 50 % : même à pleine capacité, ses activités n'en couvrent que 37,5 %."
        in messages
    )
    assert any(
        "Le taux de couverture minimal de 50 % du besoin « Hébergement » ne peut être atteint" in m
        for m in messages
    )


def test_time_limit_without_solution_is_explained():
    problem = generate_problem(100, 200, 10, seed=1, fixed_costs=True)
    s = solve(problem, solver="cbc", time_limit=0.1, mip_gap=1e-9)
    e = explain(problem, s, time_limit=0.1)
    assert s.status == "time_limit_no_solution"
    assert "Aucune solution n'a été trouvée dans la limite de temps" in e.sentences[0]


def test_generated_problem_explanation_is_complete():
    problem = generate_problem(10, 15, 2, seed=3, fixed_costs=True, equity=True)
    s = solve(problem)
    e = explain(problem, s)
    assert set(e.activity_reasons) == {a.code for a in problem.activities}
    assert all(e.activity_reasons[a.code] for a in problem.activities)
    assert set(e.need_reasons) == {n.code for n in problem.needs}
    assert all(b.range_low is not None for b in e.binding)
