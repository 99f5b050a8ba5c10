"""Why a scenario is infeasible, in French: which constraints cannot hold together, by how much.

Two passes:

1. Plain arithmetic on the data, which needs no solver and names the usual culprits exactly:
   legal floors above the envelope, the services' lowest allowed budgets above the envelope, a
   floor above its own service's maximum rise, mandatory volumes costing more than the envelope
   or than their service's maximum, or needing more staff than the limit, a coverage floor out
   of reach even at full capacity.
2. Goal programming: every group of hard constraints is relaxed with a penalised slack
   (legal floors, each side of each stability band, mandatory volumes, the staff limit, hard
   coverage floors) and the total penalty is minimised; the slacks left positive say which
   constraints had to give and by how much. The envelope and the capacities stay hard (they are
   the data of the question). Weights per euro-equivalent, normalised by the envelope: legal
   floors 8, mandatory volumes 4 (valued at their unit cost), coverage floors 2 (at today's cost
   of a covered person), the staff limit 2 (at today's cost of an ETP), stability bands 1: the
   law gives last, the stability bands first.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from optimizer import highs_direct as hd
from optimizer.fr import format_euros, format_number, format_percent, format_signed_percent, plural
from optimizer.model import INF, Formulation, formulate
from optimizer.problem import Problem

WEIGHT_FLOOR = 8.0
WEIGHT_MIN_VOLUME = 4.0
WEIGHT_COVERAGE = 2.0
WEIGHT_STAFF = 2.0
WEIGHT_BAND = 1.0
#: Slacks below this share of their scale are solver noise.
SLACK_TOL = 1e-6


def _service_names(problem: Problem) -> dict[str, str]:
    return {s.code: f"« {s.name or s.code} »" for s in problem.services}


def arithmetic_checks(problem: Problem) -> list[str]:
    """The infeasibilities that plain sums reveal (see the module docstring), in French."""
    messages: list[str] = []
    names = _service_names(problem)
    envelope = problem.envelope
    bounds = problem.service_bounds()
    budgets = problem.current_budgets()
    floors = sum(s.legal_floor for s in problem.services)
    if floors > envelope:
        messages.append(
            f"Les planchers légaux ({format_euros(floors)}) dépassent l'enveloppe de {format_euros(envelope)} "
            f"de {format_euros(floors - envelope)}."
        )
    lowest = sum(low for low, _, _ in bounds.values())
    if lowest > envelope and lowest > floors + 0.5:
        messages.append(
            "Les baisses maximales autorisées ne permettent pas de descendre jusqu'à l'enveloppe : ensemble, "
            f"les services ne peuvent passer sous {format_euros(lowest)}, soit {format_euros(lowest - envelope)} "
            f"de plus que l'enveloppe de {format_euros(envelope)}."
        )
    mandatory_cost: dict[str, float] = {s.code: 0.0 for s in problem.services}
    mandatory_staff = 0.0
    for a in problem.activities:
        if a.min_volume > 0:
            mandatory_cost[a.service] = (
                mandatory_cost.get(a.service, 0.0) + a.unit_cost * a.min_volume + a.fixed_cost
            )
            mandatory_staff += a.staff_per_unit * a.min_volume
    for s in problem.services:
        _, high, _ = bounds[s.code]
        if high is None:
            continue
        rise = format_signed_percent(s.max_change or 0.0)
        if s.legal_floor > high:
            messages.append(
                f"Le plancher légal du service {names[s.code]} ({format_euros(s.legal_floor)}) dépasse sa hausse "
                f"maximale autorisée ({rise} : {format_euros(high)})."
            )
        if mandatory_cost[s.code] > high + 0.5:
            messages.append(
                f"Les volumes obligatoires du service {names[s.code]} coûtent {format_euros(mandatory_cost[s.code])}, "
                f"plus que sa hausse maximale autorisée ({rise} : {format_euros(high)} pour un budget actuel de "
                f"{format_euros(budgets[s.code])})."
            )
    total_mandatory = sum(mandatory_cost.values())
    if total_mandatory > envelope:
        messages.append(
            f"Les volumes obligatoires coûtent {format_euros(total_mandatory)}, plus que l'enveloppe de "
            f"{format_euros(envelope)} ({format_euros(total_mandatory - envelope)} de trop)."
        )
    if problem.staff_limit is not None and mandatory_staff > problem.staff_limit + 1e-9:
        messages.append(
            f"Les volumes obligatoires demandent {format_number(mandatory_staff)} ETP, plus que la limite de "
            f"{format_number(problem.staff_limit)} ETP."
        )
    reach = {n.code: 0.0 for n in problem.needs}
    capacity = {a.code: a.capacity for a in problem.activities}
    counted = problem.arrays().cov_coefficient  # k_an s_an: each unit of output counted once
    for c, coefficient in zip(problem.coverages, counted, strict=True):
        cap = capacity[c.activity]
        if coefficient <= 0:
            continue
        reach[c.need] = INF if cap is None else reach[c.need] + float(coefficient) * cap
    for n in problem.needs:
        if n.min_coverage_rate and not n.min_coverage_soft:
            best = min(reach[n.code], n.size) / n.size
            if best + 1e-9 < n.min_coverage_rate:
                messages.append(
                    f"Le besoin « {n.name or n.code} » ne peut être couvert à {format_percent(n.min_coverage_rate)} : "
                    f"même à pleine capacité, ses activités n'en couvrent que {format_percent(best)}."
                )
    return messages


@dataclasses.dataclass
class _Slack:
    group: str  # floor, band_min, band_max, min_volume, staff, coverage
    key: str  # service, activity or floor row name ("" for the uniform band slacks)
    column: int
    scale: float


#: The groups of hard constraints the diagnosis may relax, in the order their fixes are offered:
#: the scenario's own limits first (staff, coverage floors), the stability bands, then the
#: mandatory volumes and the legal floors (the law gives last).
GROUPS = ("staff", "coverage", "band", "min_volume", "floor")


def _elastic(problem: Problem, relax: frozenset[str] = frozenset(GROUPS)) -> tuple[Formulation, list[_Slack]]:
    """The formulation with the hard constraints of the groups ``relax`` relaxed by penalised
    slacks (the others stay hard). The stability bands are relaxed by one uniform slack on each
    side (a number of points of change allowed to every service), not service by service: with
    a slack per service the cheapest relaxation is any vertex, such as five services at 0 €."""
    form = formulate(problem)
    envelope_scale = max(problem.envelope, 1.0)
    total_cost = sum(problem.current_budgets().values())
    staff_now = sum(a.staff_per_unit * a.current_volume for a in problem.activities)
    cost_per_etp = total_cost / staff_now if staff_now > 0 else 50_000.0
    persons = sum(n.size for n in problem.needs)
    cost_per_person = total_cost / persons if persons > 0 else 1.0

    col_kind, col_key = list(form.col_kind), list(form.col_key)
    cost = np.zeros(form.num_col)
    col_lower, col_upper = form.col_lower.copy(), form.col_upper.copy()
    integer = form.integer.copy()
    row_kind, row_key = list(form.row_kind), list(form.row_key)
    row_lower, row_upper = list(form.row_lower), list(form.row_upper)
    rows: list[int] = form.a_index.tolist()
    cols: list[int] = np.repeat(np.arange(form.num_col), np.diff(form.a_start)).tolist()
    vals: list[float] = form.a_value.tolist()
    slacks: list[_Slack] = []

    def add_slack(group: str, key: str, weight_per_unit: float, scale: float) -> int:
        col_kind.append("slack")
        col_key.append(f"{group}[{key}]")
        j = len(col_kind) - 1
        slacks.append(_Slack(group, key, j, scale))
        nonlocal cost, col_lower, col_upper, integer
        cost = np.append(cost, -weight_per_unit / envelope_scale)
        col_lower = np.append(col_lower, 0.0)
        col_upper = np.append(col_upper, INF)
        integer = np.append(integer, False)
        return j

    def add_row(kind: str, key: str, lo: float, up: float, entries: list[tuple[int, float]]) -> None:
        row_kind.append(kind)
        row_key.append(key)
        row_lower.append(lo)
        row_upper.append(up)
        i = len(row_kind) - 1
        for j, v in entries:
            rows.append(i)
            cols.append(j)
            vals.append(v)

    budgets = problem.current_budgets()
    k = form.money_scale
    if relax & {"floor", "band"}:
        banded = [
            s
            for s in problem.services
            if s.min_change is not None and (1 + s.min_change) * budgets[s.code] > 0
        ]
        capped = [s for s in problem.services if s.max_change is not None]
        t_min = t_max = -1
        if "band" in relax and banded:
            weight = WEIGHT_BAND * sum(budgets[s.code] for s in banded)
            t_min = add_slack("band_min", "", weight, 1e-3)
        if "band" in relax and capped:
            weight = WEIGHT_BAND * sum(max(budgets[s.code], 1.0) for s in capped)
            t_max = add_slack("band_max", "", weight, 1e-3)
        for s in problem.services:
            b = form.b_col[s.code]
            col_lower[b], col_upper[b] = 0.0, INF
            current = budgets[s.code]
            # b_s and these slacks count thousands of euros, as the model does
            if s.legal_floor > 0:
                entries = [(b, 1.0)]
                if "floor" in relax:
                    entries.append((add_slack("floor", s.code, WEIGHT_FLOOR * k, s.legal_floor / k), 1.0))
                add_row("floor", s.code, s.legal_floor / k, INF, entries)
            if s in banded:
                low = (1 + (s.min_change or 0.0)) * current / k
                add_row(
                    "band_min", s.code, low, INF, [(b, 1.0)] + ([(t_min, current / k)] if t_min >= 0 else [])
                )
            if s.max_change is not None:
                high = (1 + s.max_change) * current / k
                entries = [(b, 1.0)] + ([(t_max, -max(current, 1.0) / k)] if t_max >= 0 else [])
                add_row("band_max", s.code, -INF, high, entries)
    if "min_volume" in relax:
        for i, a in enumerate(problem.activities):
            if a.min_volume > 0:
                x = int(form.x_col[i])
                col_lower[x] = 0.0
                if i in form.y_col:
                    col_lower[form.y_col[i]] = 0.0
                j = add_slack("min_volume", a.code, WEIGHT_MIN_VOLUME * max(a.unit_cost, 1.0), a.min_volume)
                add_row("min_volume", a.code, a.min_volume, INF, [(x, 1.0), (j, 1.0)])
    if "staff" in relax and "staff" in form.row_index and problem.staff_limit is not None:
        j = add_slack("staff", "", WEIGHT_STAFF * cost_per_etp, max(problem.staff_limit, 1.0))
        rows.append(form.row_index["staff"])
        cols.append(j)
        vals.append(-1.0)
    if "coverage" in relax:
        hard_floors = [
            i
            for i, kind in enumerate(form.row_kind)
            if kind in ("need_floor", "group_floor", "territory_floor")
            and form.row_name(i) not in form.short_col
        ]
        for i in hard_floors:
            j = add_slack(
                "coverage", form.row_name(i), WEIGHT_COVERAGE * cost_per_person, max(form.row_lower[i], 1.0)
            )
            rows.append(i)
            cols.append(j)
            vals.append(1.0)

    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    v = np.asarray(vals, dtype=np.float64)
    order = np.lexsort((r, c))
    start = np.concatenate(([0], np.cumsum(np.bincount(c, minlength=len(col_kind))))).astype(np.int64)
    elastic = dataclasses.replace(
        form,
        col_kind=col_kind,
        col_key=col_key,
        cost=cost,
        col_lower=col_lower,
        col_upper=col_upper,
        integer=integer,
        row_kind=row_kind,
        row_key=row_key,
        row_lower=np.asarray(row_lower, dtype=np.float64),
        row_upper=np.asarray(row_upper, dtype=np.float64),
        a_start=start,
        a_index=r[order],
        a_value=v[order],
    )
    elastic.row_index = {elastic.row_name(i): i for i in range(elastic.num_row)}
    return elastic, slacks


def _points(rate: float) -> str:
    """A change of rate in points: ``4 points``, ``0,5 point``."""
    value = round(rate * 100, 1)
    return f"{format_number(value, 1 if value != int(value) else 0)} {plural(value, 'point', 'points')}"


def _present(problem: Problem) -> list[str]:
    """The groups of hard constraints ``problem`` has (each may be relaxed)."""
    groups = []
    if problem.staff_limit is not None:
        groups.append("staff")
    if any(n.min_coverage_rate and not n.min_coverage_soft for n in problem.needs) or any(
        not f.soft for f in problem.equity_floors
    ):
        groups.append("coverage")
    if any(s.min_change is not None or s.max_change is not None for s in problem.services):
        groups.append("band")
    if any(a.min_volume > 0 for a in problem.activities):
        groups.append("min_volume")
    if any(s.legal_floor > 0 for s in problem.services):
        groups.append("floor")
    return groups


def goal_programming(
    problem: Problem, *, time_limit: float = 30.0, relax: frozenset[str] = frozenset(GROUPS)
) -> list[str] | None:
    """What had to give when the groups ``relax`` are relaxed, in French; None when the relaxed
    problem has no solution either (or the solve failed)."""
    form, slacks = _elastic(problem, relax)
    highs = hd.new_highs(time_limit=time_limit, mip_rel_gap=1e-6, presolve=bool(form.integer.any()))
    hd.pass_formulation(highs, form)
    run = hd.run(highs, mip=bool(form.integer.any()))
    if not run.has_solution:
        return None
    values = run.col_value
    names = _service_names(problem)
    services = {s.code: s for s in problem.services}
    activities = {a.code: a for a in problem.activities}
    budgets = problem.current_budgets()
    messages: list[str] = []
    by_group: dict[str, list[tuple[_Slack, float]]] = {}
    for slack in slacks:
        amount = float(values[slack.column])
        if amount > SLACK_TOL * max(slack.scale, 1e-3):
            by_group.setdefault(slack.group, []).append((slack, amount))

    k = form.money_scale
    lowest = sum(low for low, _, _ in problem.service_bounds().values())
    towards = (
        "ne permet pas d'atteindre l'enveloppe" if lowest > problem.envelope + 0.5 else "est trop étroite"
    )

    for slack, amount in by_group.get("floor", []):
        amount *= k
        s = services[slack.key]
        messages.append(
            f"Le plancher légal du service {names[s.code]} ({format_euros(s.legal_floor)}) ne peut être tenu : "
            f"il manque {format_euros(amount)}."
        )
    for _, t in by_group.get("band_min", []):
        banded = [s for s in problem.services if s.min_change is not None]
        if len(banded) == 1:
            s = banded[0]
            current = budgets[s.code]
            wanted = (s.min_change or 0.0) - t
            messages.append(
                f"La baisse maximale de {format_percent(-(s.min_change or 0.0))} du service {names[s.code]} {towards} : "
                f"il faudrait une baisse de {format_percent(-wanted)} ({format_euros((1 + wanted) * current)} au lieu "
                f"de {format_euros((1 + (s.min_change or 0.0)) * current)} au moins)."
            )
            continue
        shown = ", ".join(
            f"{names[s.code]} {format_signed_percent((s.min_change or 0.0) - t)} au lieu de "
            f"{format_signed_percent(s.min_change or 0.0)}"
            for s in banded[:4]
        )
        more = f" et {len(banded) - 4} autre(s)" if len(banded) > 4 else ""
        plural_towards = (
            "ne permettent pas d'atteindre l'enveloppe" if towards.startswith("ne") else "sont trop étroites"
        )
        messages.append(
            f"Les baisses maximales des services {plural_towards} : il faudrait permettre à chacun "
            f"{_points(t)} de baisse de plus ({shown}{more})."
        )
    for _, t in by_group.get("band_max", []):
        capped = [s for s in problem.services if s.max_change is not None]
        shown = ", ".join(
            f"{names[s.code]} {format_signed_percent((s.max_change or 0.0) + t)} au lieu de "
            f"{format_signed_percent(s.max_change or 0.0)}"
            for s in capped[:4]
        )
        more = f" et {len(capped) - 4} autre(s)" if len(capped) > 4 else ""
        messages.append(
            f"Les hausses maximales des services ne suffisent pas à financer leurs obligations : il faudrait "
            f"permettre à chacun {_points(t)} de hausse de plus ({shown}{more})."
        )
    for slack, amount in by_group.get("min_volume", []):
        a = activities[slack.key]
        messages.append(
            f"Le volume obligatoire de l'activité « {a.name or a.code} » ({format_number(a.min_volume)} unités) ne peut "
            f"être tenu : il faudrait le réduire de {format_number(amount)} unités."
        )
    for _, amount in by_group.get("staff", []):
        messages.append(
            f"La limite de {format_number(problem.staff_limit or 0.0)} ETP ne suffit pas : il faudrait "
            f"{format_number(amount)} ETP de plus."
        )
    for slack, amount in by_group.get("coverage", []):
        i = form.row_index[slack.key]
        target = float(form.row_lower[i])
        label, persons = _floor_label(problem, slack.key)
        reached = (target - amount) / persons if persons > 0 else 0.0
        messages.append(
            f"Le taux de couverture minimal de {format_percent(target / persons)} {label} ne peut être atteint : "
            f"au mieux {format_percent(reached)} ({format_number(amount)} personnes manquent)."
        )
    return messages


def _floor_label(problem: Problem, name: str) -> tuple[str, float]:
    """French label of a coverage floor row and the persons it counts."""
    kind, key = name.split("[", 1)
    key = key[:-1]
    select: Callable[[str | None, str | None, str], bool]
    if kind == "need_floor":
        need = next(n for n in problem.needs if n.code == key)
        return f"du besoin « {need.name or need.code} »", need.size
    if kind == "group_floor":
        label = f"du groupe « {key} »"

        def select(group: str | None, territory: str | None, target: str) -> bool:
            return group == target
    else:
        label = f"du territoire « {key} »"

        def select(group: str | None, territory: str | None, target: str) -> bool:
            return territory == target

    persons = sum(n.size for n in problem.needs if select(n.population_group, n.territory, key))
    return label, persons


def diagnose_infeasibility(problem: Problem, *, time_limit: float = 30.0) -> list[str]:
    """Which constraints of ``problem`` cannot hold together, and by how much, in French.

    Arithmetic checks first; then each group of hard constraints (:data:`GROUPS`) relaxed alone:
    the groups whose relaxation alone makes the scenario feasible are offered, each in its own
    terms (the staff limit too low is named as such, not as a stability band); when no single
    group suffices, all are relaxed together by goal programming (see the module docstring).
    ``time_limit`` bounds the whole diagnosis. Never empty.
    """
    deadline = time.perf_counter() + time_limit
    messages = arithmetic_checks(problem)
    alone: list[list[str]] = []
    for group in _present(problem):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05:
            break
        found = goal_programming(problem, time_limit=remaining, relax=frozenset({group}))
        if found:
            alone.append(found)
    if alone:
        if len(alone) == 1:
            messages.append("La contrainte qui doit céder :")
        else:
            messages.append(
                "Chacune de ces modifications suffirait, à elle seule, à rendre le scénario réalisable :"
            )
        messages.extend(f"– {m}" for found in alone for m in found)
        return messages
    remaining = max(deadline - time.perf_counter(), 0.1)
    relaxed = goal_programming(problem, time_limit=remaining)
    if relaxed is None:
        messages.append(
            "Le diagnostic par relâchement des contraintes n'a pas abouti dans le temps imparti : "
            "vérifiez l'enveloppe, les planchers légaux et les volumes obligatoires."
        )
    elif relaxed:
        messages.append("En relâchant les contraintes au moindre coût, voici celles qui doivent céder :")
        messages.extend(f"– {m}" for m in relaxed)
    elif not messages:
        messages.append(
            "Aucune contrainte n'a dû céder une fois relâchée : le scénario semble réalisable ; l'échec vient "
            "probablement d'une limite de temps trop courte ou des choix entiers (postes, coûts fixes)."
        )
    return messages
