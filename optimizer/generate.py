"""Generated problems of a given size, for the benchmark and the property tests (seeded).

Shape
-----
``n_services`` services each run 5 or 6 kinds of activity (5.8 on average) in each of
``n_territories`` territories, so ``5.8 x n_services x n_territories`` activities; ``n_needs``
needs are spread evenly over the territories and six population groups; each activity covers
one to three needs of its own territory. Variables: one volume per activity, one covered part
per need, and with ``fixed_costs`` a "runs" variable for about 30 % of the activities.

==========  ========  =====  ===========  ==========  ===================================
size        services  needs  territories  activities  variables (LP; + y with fixed costs)
==========  ========  =====  ===========  ==========  ===================================
small             20     30            1         116  146 (+ ~35)
medium           100    200           10       5 800  6 000 (+ ~1 740)
large            500  1 000           50     145 000  146 000 (+ ~43 500)
==========  ========  =====  ===========  ==========  ===================================

Figures: unit costs 20-2,000 EUR (log-uniform), current volumes 10-500 units, capacity 1.3-2.5
times the current volume, a mandatory volume on 20 % of activities (30-60 % of current), one
ETP per 50,000 EUR of 60 % of the unit cost; needs sized so that today's coverage is 30-90 %;
services may move from -10 % to +15 %, 30 % of them have a legal floor (50-70 % of their budget);
the envelope is 95 % of today's cost (a 5 % cut) and the staff limit 97 % of today's ETP.
"""

from __future__ import annotations

import numpy as np

from optimizer.problem import ActivitySpec, Coverage, EquityFloor, NeedSpec, Problem, ServiceSpec

GROUPS = ("seniors", "familles", "jeunes", "handicap", "precarite", "logement")
KINDS_PER_SERVICE = (5, 6, 6, 6, 6)  # 5.8 kinds of activity per service on average


def generate_problem(
    n_services: int,
    n_needs: int,
    n_territories: int,
    *,
    seed: int,
    fixed_costs: bool = False,
    envelope_ratio: float = 0.95,
    equity: bool = False,
) -> Problem:
    """A random but realistic problem of the given size (same seed, same problem).

    ``envelope_ratio``: the envelope as a share of today's total cost; ``equity``: add a soft
    floor per population group at 80 % of its current coverage rate.
    """
    rng = np.random.default_rng(seed)
    territories = [f"T{t + 1:02d}" for t in range(n_territories)]
    needs_of_territory: list[list[int]] = [[] for _ in territories]
    for i in range(n_needs):
        needs_of_territory[i % n_territories].append(i)
    services: list[tuple[str, int]] = []
    activities: list[ActivitySpec] = []
    coverages: list[Coverage] = []
    reach = np.zeros(n_needs)
    for s in range(n_services):
        code = f"S{s + 1:03d}"
        kinds = KINDS_PER_SERVICE[s % len(KINDS_PER_SERVICE)]
        services.append((code, kinds))
        for k in range(kinds):
            base_cost = float(np.exp(rng.uniform(np.log(20.0), np.log(2000.0))))
            n_cover = int(rng.integers(1, 4))
            coefficient = rng.uniform(0.2, 3.0, n_cover)
            for t, territory in enumerate(territories):
                local = needs_of_territory[t]
                if not local:
                    continue
                unit_cost = round(base_cost * float(rng.uniform(0.85, 1.15)), 2)
                volume = float(rng.integers(10, 501))
                mandatory = rng.random() < 0.2
                fixed = (
                    round(float(rng.uniform(0.05, 0.2)) * unit_cost * volume, 2)
                    if fixed_costs and rng.random() < 0.3
                    else 0.0
                )
                a_code = f"{code}-A{k + 1}-{territory}"
                activities.append(
                    ActivitySpec(
                        code=a_code,
                        name=f"Activité {k + 1} du service {code} ({territory})",
                        service=code,
                        unit_cost=unit_cost,
                        fixed_cost=fixed,
                        current_volume=volume,
                        min_volume=round(volume * float(rng.uniform(0.3, 0.6))) if mandatory else 0.0,
                        capacity=round(volume * float(rng.uniform(1.3, 2.5))),
                        staff_per_unit=round(0.6 * unit_cost / 50_000, 6),
                        territory=territory,
                    )
                )
                chosen = rng.choice(len(local), size=min(n_cover, len(local)), replace=False)
                for j, pick in enumerate(chosen):
                    need = local[int(pick)]
                    coef = round(float(coefficient[j]), 3)
                    coverages.append(Coverage(a_code, f"N{need + 1:04d}", coef))
                    reach[need] += coef * volume
    needs = []
    for i in range(n_needs):
        target = float(rng.uniform(0.3, 0.9))
        size = round(reach[i] / target) if reach[i] > 0 else float(rng.integers(50, 500))
        needs.append(
            NeedSpec(
                code=f"N{i + 1:04d}",
                name=f"Besoin {i + 1}",
                size=max(float(size), 1.0),
                priority=float(rng.choice([1.0, 1.0, 1.5, 2.0, 3.0])),
                population_group=GROUPS[int(rng.integers(0, len(GROUPS)))],
                territory=territories[i % n_territories],
            )
        )
    cost_of: dict[str, float] = {}
    for a in activities:
        cost_of[a.service] = cost_of.get(a.service, 0.0) + a.current_cost
    service_specs = []
    for code, _ in services:
        floor = round(cost_of.get(code, 0.0) * float(rng.uniform(0.5, 0.7)), 2) if rng.random() < 0.3 else 0.0
        service_specs.append(
            ServiceSpec(
                code=code, name=f"Service {code}", min_change=-0.10, max_change=0.15, legal_floor=floor
            )
        )
    total = sum(cost_of.values())
    staff = sum(a.staff_per_unit * a.current_volume for a in activities)
    floors: tuple[EquityFloor, ...] = ()
    if equity:
        persons: dict[str, list[float]] = {}
        for i, n in enumerate(needs):
            group = str(n.population_group)
            entry = persons.setdefault(group, [0.0, 0.0])
            entry[0] += min(reach[i], n.size)
            entry[1] += n.size
        floors = tuple(
            EquityFloor("group", g, round(0.8 * covered / size, 4), soft=True)
            for g, (covered, size) in sorted(persons.items())
            if size > 0
        )
    return Problem(
        activities=tuple(activities),
        needs=tuple(needs),
        services=tuple(service_specs),
        coverages=tuple(coverages),
        envelope=round(envelope_ratio * total, 2),
        staff_limit=round(0.97 * staff, 3),
        equity_floors=floors,
        name=f"généré {n_services}x{n_needs}x{n_territories} (graine {seed})",
    )
