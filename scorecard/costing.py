"""Activity-based costing (pure): support functions allocated to operational centres, then
centre costs carried to activities by drivers, giving full, direct, unit and net costs.

Notation
--------
Centres are support (s) or operational (o). ``direct`` holds each centre's own cost (EUR).
``keys[i, j]`` is the share of centre i's services used by centre j (a row sums to 1 over the
centres it serves; a centre does not serve itself).

Methods
-------
- ``direct``: each support's direct cost goes to the operational centres only, by its keys
  renormalised over them (services between supports are ignored).
- ``step-down``: supports are closed one after another (by the given order); each passes its
  accumulated cost to the centres not yet closed, by its keys renormalised over them.
- ``reciprocal``: the supports' full costs solve ``x = d_S + K_SS^T x`` (mutual services counted
  both ways), i.e. ``(I - K_SS^T) x = d_S``; each support then passes ``x_s x keys[s, o]`` to the
  operational centres.
Each method conserves the total: the operational centres' full costs add up to all direct costs
(when every support serves someone).

Activities receive their centre's full cost by driver shares (ETP, time, files, area, direct
assignment): ``activity_full = sum over centres of full_c x share[c, a]``; unit cost = full /
volume; cost per beneficiary = full / beneficiaries; net cost = full - revenues. A zero volume or
no beneficiary gives no unit cost (NaN), never an infinite one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, cast

import numpy as np
import pandas as pd

from scorecard.errors import UserError
from scorecard.money import round_parts

Method = Literal["direct", "step-down", "reciprocal"]


class CostingError(UserError):
    """Allocation keys or drivers that cannot be used; the message is in French."""


def allocate_support(
    direct: pd.Series,
    keys: pd.DataFrame,
    supports: Sequence[str],
    *,
    method: Method = "reciprocal",
) -> pd.Series:
    """Full cost of every operational centre after the supports' costs are allocated.

    ``direct``: cost by centre; ``keys``: square DataFrame over the same centres (rows: providers);
    ``supports``: the support centres (in step-down order for that method).
    """
    flows = support_flows(direct, keys, supports, method=method)
    operational = [c for c in direct.index if c not in set(supports)]
    received = flows[flows["receiver"].isin(operational)].groupby("receiver")["amount"].sum()
    return direct.astype(float)[operational] + received.reindex(operational).fillna(0.0)


def support_flows(
    direct: pd.Series,
    keys: pd.DataFrame,
    supports: Sequence[str],
    *,
    method: Method = "reciprocal",
) -> pd.DataFrame:
    """The amounts each support centre passes to each other centre (columns provider, receiver, amount).

    What reaches the operational centres adds up to the supports' direct costs: by the direct
    method only operational centres receive; by step-down a support receives only from supports
    closed before it; by the reciprocal method supports exchange ``x_s x k[s, s']`` both ways.
    """
    centres = [str(c) for c in direct.index]
    keys = keys.reindex(index=centres, columns=centres).fillna(0.0).astype(float)
    if (keys.to_numpy() < 0).any():
        raise CostingError("une clé de répartition est négative")
    unknown = [s for s in supports if s not in centres]
    if unknown:
        raise CostingError(f"fonctions support inconnues : {', '.join(unknown)}")
    support = list(supports)
    operational = [c for c in centres if c not in support]
    if not operational:
        raise CostingError("aucun centre opérationnel pour recevoir les coûts support")
    matrix = keys.to_numpy(copy=True)
    np.fill_diagonal(matrix, 0.0)  # a centre does not serve itself
    keys = pd.DataFrame(matrix, index=centres, columns=centres)
    d = direct.astype(float)
    rows: list[tuple[str, str, float]] = []

    def normalised(provider: str, receivers: list[str]) -> pd.Series:
        part = cast(pd.Series, keys.loc[provider])[receivers]
        total = float(part.sum())
        if total <= 0:
            raise CostingError(
                f"la fonction support « {provider} » ne sert aucun centre restant : ses clés sont nulles"
            )
        return part / total

    def emit(provider: str, amount: float, shares: pd.Series) -> None:
        for receiver, share in zip(shares.index.tolist(), shares.tolist(), strict=True):
            if share > 0:
                rows.append((provider, str(receiver), amount * float(share)))

    if method == "direct":
        for s in support:
            emit(s, float(d[s]), normalised(s, operational))
    elif method == "step-down":
        accumulated = d.copy()
        remaining = list(support)
        for s in support:
            remaining.remove(s)
            shares = normalised(s, remaining + operational)
            amount = float(accumulated[s])
            emit(s, amount, shares)
            for receiver, share in zip(shares.index.tolist(), shares.tolist(), strict=True):
                accumulated[str(receiver)] += amount * float(share)
    elif method == "reciprocal":
        served = pd.DataFrame({s: normalised(s, centres) for s in support}).T  # rows: supports
        k_ss = served[support].to_numpy()
        try:
            x = np.linalg.solve(np.eye(len(support)) - k_ss.T, d[support].to_numpy())
        except np.linalg.LinAlgError:
            raise CostingError(
                "services réciproques sans solution : des fonctions support ne servent qu'elles-mêmes"
            ) from None
        for i, s in enumerate(support):
            emit(s, float(x[i]), cast(pd.Series, served.loc[s]))
    else:
        raise CostingError(f"méthode de répartition inconnue : {method}")
    return pd.DataFrame(rows, columns=["provider", "receiver", "amount"])


def activity_costs(
    centre_full: pd.Series,
    centre_direct: pd.Series,
    drivers: pd.DataFrame,
    activities: pd.DataFrame,
) -> pd.DataFrame:
    """Full and direct cost of each activity, per output unit, per beneficiary, and net of revenues.

    ``drivers``: rows centres, columns activities, the driver quantities (any unit: they are turned
    into shares per centre). ``activities``: index activity, columns ``volume``, ``beneficiaries``,
    ``revenues`` (EUR).
    """
    drivers = drivers.reindex(index=centre_full.index).fillna(0.0).astype(float)
    totals = drivers.sum(axis=1)
    empty = totals[(totals <= 0) & (centre_full.abs() > 0)]
    if len(empty):
        raise CostingError(f"centres sans inducteur vers une activité : {', '.join(map(str, empty.index))}")
    shares = drivers.div(totals.where(totals > 0, 1.0), axis=0)
    full = shares.mul(centre_full, axis=0).sum(axis=0)
    direct = shares.mul(centre_direct.reindex(centre_full.index).fillna(0.0), axis=0).sum(axis=0)
    result = activities.copy()
    result["full_cost"] = full.reindex(result.index).fillna(0.0)
    result["direct_cost"] = direct.reindex(result.index).fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        volume = result["volume"].astype(float)
        beneficiaries = result["beneficiaries"].astype(float)
        result["unit_cost"] = np.where(volume > 0, result["full_cost"] / volume, np.nan)
        result["cost_per_beneficiary"] = np.where(
            beneficiaries > 0, result["full_cost"] / beneficiaries, np.nan
        )
    result["net_cost"] = result["full_cost"] - result["revenues"].astype(float).fillna(0.0)
    return result


# --- The whole costing of a year: lines -> centres -> supports -> activities ------------------------

#: Glossary of the frames ``compute_costing`` reads and returns.
#: centres: index code; ``kind`` (support | operational), ``service`` (id or <NA>),
#:   ``function_codes`` (tuple of M57 prefixes), ``step_order``, ``name``.
#: keys: ``provider``, ``receiver`` (centre codes), ``share`` (0-1; a support's shares sum to 1).
#: drivers: ``centre``, ``activity``, ``quantity`` (>= 0, any unit; turned into shares per centre).
#: lines: ``line`` (id), ``flow`` (depense | recette), ``amount`` (EUR), ``service`` (id or <NA>),
#:   ``function`` (M57 code, str), ``nature`` (str).
#: allocations: ``line``, ``activity``, ``share`` (a line's direct assignment to activities).
#: activities: index activity id; ``volume``, ``beneficiaries``.
KEY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Costing:
    """The result of a costing: activities, centres, flows, and what reached no centre."""

    activities: pd.DataFrame
    centres: pd.DataFrame
    #: ``source``, ``target``, ``amount``, ``stage``: ``ressource`` (nature -> centre),
    #: ``support`` (centre -> centre), ``activite`` (centre -> activity), ``affectation`` (line -> activity).
    flows: pd.DataFrame
    #: Expenses that reached no centre nor activity (no service, no claimed function).
    unassigned: float
    unassigned_lines: int
    total_in: float
    total_out: float


def _conserved(full: pd.Series, target: float) -> pd.Series:
    """The activities' full costs with the rounding residual of the allocation (a few 1e-16 of the
    total) put on the largest one, so that they add up exactly to what reached them: the exact sum
    of the returned floats is within half a unit in the last place of ``target``."""
    if not len(full) or not math.isfinite(target) or not np.isfinite(full.to_numpy()).all():
        return full
    values = [float(v) for v in full.tolist()]
    largest = max(range(len(values)), key=lambda i: abs(values[i]))
    if values[largest] == 0:
        return full
    residual = Fraction(target) - sum((Fraction(v) for v in values), Fraction(0))
    if abs(residual) > abs(Fraction(target)) / 10**8 + Fraction(1, 10**8):
        return full  # not a rounding residual: something did not reach the activities
    values[largest] = float(Fraction(values[largest]) + residual)
    return pd.Series(values, index=full.index, name=full.name, dtype=float)


def centre_of_lines(lines: pd.DataFrame, centres: pd.DataFrame) -> pd.Series:
    """The centre of each line: by its service first, then by the longest claimed function prefix.

    Decided once per distinct service and per distinct function code, then spread over the lines
    by their codes (no Python loop over the lines). Lines of no centre get None."""
    by_service = {
        int(service): str(code)
        for code, service in centres["service"].items()
        if service is not None and not pd.isna(service)
    }
    prefixes = sorted(
        ((str(prefix), str(code)) for code, codes in centres["function_codes"].items() for prefix in codes),
        key=lambda item: -len(item[0]),
    )
    functions, distinct_functions = pd.factorize(lines["function"], use_na_sentinel=False)
    function_centre = np.array(
        [next((c for p, c in prefixes if str(f).startswith(p)), None) for f in distinct_functions],
        dtype=object,
    )
    services, distinct_services = pd.factorize(lines["service"])  # a missing service: -1
    service_centre = np.array([by_service.get(int(s)) for s in distinct_services] + [None], dtype=object)
    has_centre = np.array([int(s) in by_service for s in distinct_services] + [False], dtype=bool)
    by_line = service_centre[services]
    if len(function_centre):
        by_line = np.where(has_centre[services], by_line, function_centre[functions])
    return pd.Series(by_line, index=lines.index, dtype=object)


def validate_cost_model(centres: pd.DataFrame, keys: pd.DataFrame) -> list[str]:
    """French problems of the keys: a support's keys must sum to 100 %, between known centres."""
    problems: list[str] = []
    names = centres["name"].to_dict() if "name" in centres else {}
    known = set(centres.index.astype(str))
    for column in ("provider", "receiver"):
        for code in sorted(set(keys[column].astype(str)) - known):
            problems.append(f"clé de répartition : centre « {code} » inconnu")
    supports = centres.index[centres["kind"] == "support"].astype(str)
    sums = keys.groupby(keys["provider"].astype(str))["share"].sum()
    for code in supports:
        total = float(sums.get(code, 0.0))
        if abs(total - 1.0) > KEY_TOLERANCE:
            label = names.get(code, code)
            problems.append(
                f"fonction support « {label} » : ses clés de répartition font {total * 100:.2f} % au lieu de 100 %".replace(
                    ".", ","
                )
            )
    for code in sorted(set(keys["provider"].astype(str)) - set(supports)):
        if code in known:
            problems.append(
                f"le centre opérationnel « {names.get(code, code)} » ne peut pas avoir de clés de répartition"
            )
    return problems


def compute_costing(
    centres: pd.DataFrame,
    keys: pd.DataFrame,
    drivers: pd.DataFrame,
    lines: pd.DataFrame,
    allocations: pd.DataFrame,
    activities: pd.DataFrame,
    *,
    method: Method = "reciprocal",
) -> Costing:
    """Full costing of a year.

    1. Each expense line goes to its centre (``centre_of_lines``), except the shares directly
       assigned to activities (``allocations``), which become the activities' direct costs.
    2. Support centres pass their cost to the other centres by ``method`` (``support_flows``).
    3. Each operational centre passes its full cost to activities in proportion to the driver
       quantities; a centre with costs but no quantity is an error.
    4. Revenues follow the same path (assigned, or by the centre's driver shares; revenues of
       support centres or with no centre go pro rata to the activities' full costs).
    Units: EUR. Conservation: ``total_out`` (sum of the activities' full costs) equals
    ``total_in`` (all expenses) minus ``unassigned``.
    """
    problems = validate_cost_model(centres, keys)
    if problems:
        raise CostingError(" ; ".join(problems))
    codes = [str(c) for c in centres.index]
    supports = [
        str(c)
        for c in centres[centres["kind"] == "support"].sort_values(["step_order"]).index  # stable: code order
    ]
    lines = lines.copy(deep=False)  # new columns only: the caller's frame is left as it was
    lines["amount"] = lines["amount"].astype(float)
    assigned = (
        allocations.merge(lines[["line", "flow", "amount"]], on="line", how="inner")
        if len(allocations)
        else pd.DataFrame({"line": [], "activity": [], "share": [], "flow": [], "amount": []})
    )
    assigned_share = assigned.groupby("line")["share"].sum() if len(assigned) else pd.Series(dtype=float)
    # shares rounded when stored (6 decimals) that make a whole line count as the whole line
    whole = assigned_share[(assigned_share - 1.0).abs() < 1e-5]
    assigned_share[whole.index] = 1.0
    scale = assigned["line"].map(1.0 / whole.astype(float)).fillna(1.0)  # a whole line counts whole
    assigned["value"] = assigned["amount"] * assigned["share"].astype(float) * scale.astype(float)
    lines["rest"] = lines["amount"] * (1.0 - lines["line"].map(assigned_share).fillna(0.0).astype(float))
    lines["centre"] = centre_of_lines(lines, centres) if len(lines) else pd.Series(dtype=object)
    flow = lines["flow"].to_numpy(dtype=object)
    expenses = lines.loc[flow == "depense", ["centre", "rest", "amount", "nature"]]
    revenues = lines.loc[flow == "recette", ["centre", "rest"]]

    direct = expenses.groupby("centre")["rest"].sum().reindex(codes).fillna(0.0)
    unassigned_mask = expenses["centre"].isna() & (expenses["rest"].abs() > 0)
    unassigned = float(expenses.loc[unassigned_mask, "rest"].sum())
    total_in = float(expenses["amount"].sum())

    keys_matrix = (
        keys.assign(provider=keys["provider"].astype(str), receiver=keys["receiver"].astype(str))
        .pivot_table(index="provider", columns="receiver", values="share", aggfunc="sum")
        .reindex(index=codes, columns=codes)
        .fillna(0.0)
        .astype(float)
        if len(keys)
        else pd.DataFrame(0.0, index=codes, columns=codes)
    )
    flows_support = (
        support_flows(direct, keys_matrix, supports, method=method)
        if supports
        else pd.DataFrame(columns=["provider", "receiver", "amount"])
    )
    operational = [c for c in codes if c not in set(supports)]
    received = (
        flows_support.groupby("receiver")["amount"].sum() if len(flows_support) else pd.Series(dtype=float)
    )
    full = direct[operational] + received.reindex(operational).fillna(0.0).astype(float)

    activity_ids = list(activities.index)
    quantities = (
        drivers.assign(centre=drivers["centre"].astype(str))
        .pivot_table(index="centre", columns="activity", values="quantity", aggfunc="sum")
        .reindex(index=operational, columns=activity_ids)
        .fillna(0.0)
        .astype(float)
        if len(drivers)
        else pd.DataFrame(0.0, index=operational, columns=activity_ids)
    )
    totals = quantities.sum(axis=1)
    names = centres["name"].astype(str).to_dict() if "name" in centres else {}
    missing = [c for c in operational if totals[c] <= 0 and abs(float(full[c])) > 0.005]
    if missing:
        raise CostingError(
            " ; ".join(
                f"le centre « {names.get(c, c)} » porte {float(full[c]):,.2f} € mais aucune quantité d'inducteur vers une activité".replace(
                    ",", " "
                ).replace(".", ",")
                for c in missing
            )
        )
    shares = quantities.div(totals.where(totals > 0, 1.0), axis=0)
    full_by_activity = shares.mul(full, axis=0)
    direct_by_activity = shares.mul(direct[operational], axis=0)
    assigned_exp = assigned[assigned["flow"] == "depense"].groupby("activity")["value"].sum()
    result = activities[["volume", "beneficiaries"]].copy().astype(float)
    result["assigned_cost"] = assigned_exp.reindex(activity_ids).fillna(0.0)
    result["direct_cost"] = (
        direct_by_activity.sum(axis=0).reindex(activity_ids).fillna(0.0) + result["assigned_cost"]
    )
    result["full_cost"] = (
        full_by_activity.sum(axis=0).reindex(activity_ids).fillna(0.0) + result["assigned_cost"]
    )
    result["full_cost"] = _conserved(result["full_cost"], total_in - unassigned)
    result["support_cost"] = result["full_cost"] - result["direct_cost"]

    # revenues: assigned, else by the operational centre's driver shares, else pro rata to full costs
    rev_assigned = assigned[assigned["flow"] == "recette"].groupby("activity")["value"].sum()
    rev_centre = revenues.groupby("centre")["rest"].sum()
    rev_operational = rev_centre.reindex(operational).fillna(0.0)
    rev_by_activity = shares.mul(rev_operational, axis=0).sum(axis=0)
    rev_general = float(revenues["rest"].sum()) - float(rev_operational.sum())
    weights = result["full_cost"] / result["full_cost"].sum() if result["full_cost"].sum() > 0 else 0.0
    result["revenues"] = (
        rev_assigned.reindex(activity_ids).fillna(0.0)
        + rev_by_activity.reindex(activity_ids).fillna(0.0)
        + weights * rev_general
    )
    result["net_cost"] = result["full_cost"] - result["revenues"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # an activity that receives no cost (a partner's) has no unit cost rather than a free one
        costed = result["full_cost"] > 0
        result["unit_cost"] = np.where(
            (result["volume"] > 0) & costed, result["full_cost"] / result["volume"], np.nan
        )
        result["cost_per_beneficiary"] = np.where(
            (result["beneficiaries"] > 0) & costed, result["full_cost"] / result["beneficiaries"], np.nan
        )

    centre_frame = pd.DataFrame(index=codes)
    centre_frame["kind"] = centres["kind"].reindex(codes)
    centre_frame["direct"] = direct
    centre_frame["support_received"] = received.reindex(codes).fillna(0.0).astype(float)
    centre_frame["full"] = direct + centre_frame["support_received"]
    centre_frame["revenues"] = rev_centre.reindex(codes).fillna(0.0).astype(float)

    flows = [
        _resource_flows(expenses),
        flows_support.rename(columns={"provider": "source", "receiver": "target"}).assign(stage="support"),
    ]
    activity_flows = full_by_activity.stack().reset_index()
    activity_flows.columns = pd.Index(["source", "target", "amount"])
    flows.append(activity_flows[activity_flows["amount"].abs() > 0].assign(stage="activite"))
    direct_flows = assigned[assigned["flow"] == "depense"]
    if len(direct_flows):
        nature_of = pd.Series(lines["nature"].to_numpy(), index=lines["line"].to_numpy())
        flows.append(
            direct_flows.assign(nature=direct_flows["line"].map(nature_of))
            .assign(source=lambda f: f["nature"].astype(str))
            .groupby(["source", "activity"])["value"]
            .sum()
            .reset_index()
            .rename(columns={"activity": "target", "value": "amount"})
            .assign(stage="affectation")
        )
    flow_frame = (
        pd.concat([f for f in flows if len(f)], ignore_index=True)
        if any(len(f) for f in flows)
        else (pd.DataFrame(columns=["source", "target", "amount", "stage"]))
    )
    return Costing(
        activities=result,
        centres=centre_frame,
        flows=flow_frame[["source", "target", "amount", "stage"]],
        unassigned=unassigned,
        unassigned_lines=int(unassigned_mask.sum()),
        total_in=total_in,
        total_out=float(result["full_cost"].sum()),
    )


def _resource_flows(expenses: pd.DataFrame) -> pd.DataFrame:
    """What each nature of expense brings to each centre (``source`` nature, ``target`` centre,
    ``amount``, stage ``ressource``), in the order of (nature, centre): one group-by over integer
    codes of the two (the same sums, line by line in the same order, as grouping by the texts)."""
    placed = expenses[expenses["centre"].notna().to_numpy()]
    natures, nature_names = pd.factorize(placed["nature"].astype(str), sort=True)
    centres, centre_names = pd.factorize(placed["centre"], sort=True)
    width = max(1, len(centre_names))
    sums = pd.Series(placed["rest"].to_numpy()).groupby(natures.astype(np.int64) * width + centres).sum()
    at = sums.index.to_numpy()
    return pd.DataFrame(
        {
            "source": pd.Series(
                np.asarray(nature_names)[at // width], dtype=placed["nature"].astype(str).dtype
            ),
            "target": pd.Series(np.asarray(centre_names, dtype=object)[at % width], dtype=object),
            "amount": sums.to_numpy(),
            "stage": "ressource",
        }
    )


def cents(amounts: pd.Series) -> pd.Series:
    """Amounts rounded to the cent so that they still add up to their rounded total.

    The rule of :mod:`scorecard.money`: the total is the amounts' sum as the nearest float
    (``math.fsum``) rounded to the cent on its exact value (half-cents to the even cent: what
    ``round(total, 2)`` gives, never ``round(total * 100)``), and the parts are its
    largest-remainder split (each within a cent of its amount). Missing amounts count as 0.
    """
    values = amounts.astype(float).fillna(0.0).tolist()
    parts = round_parts(values, math.fsum(values))
    return pd.Series([float(c) for c in parts], index=amounts.index, dtype=float)


# --- The volume of a year, beside every unit cost ------------------------------------------------------

#: Where a year's volume comes from (the ``volume_source`` codes of :func:`yearly_volumes`).
VOLUME_SOURCES = ("prevu", "realise", "indicateur", "reference")


def _unit_word(text: str) -> str:
    """The first word of a unit, without accents, case or plural: ``Repas livrés`` -> ``repas``."""
    word = unicodedata.normalize("NFKD", str(text).strip().split(" ")[0] if str(text).strip() else "")
    word = "".join(c for c in word if not unicodedata.combining(c)).casefold().strip("'’(),.")
    return word[:-1] if len(word) > 3 and word.endswith(("s", "x")) and not word.endswith("ss") else word


def counts_output(indicator_unit: str, output_unit: str) -> bool:
    """Whether an output indicator counts the activity's unit of output (``repas`` for ``repas livré``,
    ``heures`` for ``heure d'aide``): same first word, singular or plural, accents aside."""
    return bool(_unit_word(indicator_unit)) and _unit_word(indicator_unit) == _unit_word(output_unit)


def per_year(output_unit: str) -> bool:
    """A unit counted over the year (``personne accompagnée (an)``): monthly values are not added up."""
    return bool(re.search(r"\(an\)|par an\b|/ ?an\b", output_unit.casefold()))


def yearly_volumes(
    activities: pd.DataFrame, volumes: pd.DataFrame, indicators: pd.DataFrame, *, year: int, basis: str
) -> pd.DataFrame:
    """The volume of output of each activity for ``year``, and where it comes from.

    ``activities``: index activity id; ``volume`` (the activity's reference volume, may be NaN).
    ``volumes``: ``activity``, ``planned``, ``actual`` (the year's rows of ``activity_volumes``),
    ``source``. ``indicators``: ``activity``, ``code``, ``label``, ``value`` (the year's value of the
    activity's output indicator, see :func:`counts_output`).

    Order: for the accounts (``basis="actual"``) the year's actual volume, else its output
    indicator's value, else the reference volume; for a voted budget the year's planned volume
    first, then the same order. Unit costs divide the year's cost by this volume, never by one
    fixed volume for every year. Returns index activity id; ``volume`` (NaN when none is known),
    ``volume_source`` (one of :data:`VOLUME_SOURCES`, ``None`` when none) and ``volume_label``
    (French, shown beside the unit cost).
    """
    planned: dict[object, float] = {}
    actual: dict[object, tuple[float, str]] = {}
    for activity, plan, done, source in zip(
        volumes["activity"].tolist(),
        volumes["planned"].tolist(),
        volumes["actual"].tolist(),
        volumes["source"].tolist(),
        strict=True,
    ):
        if plan is not None and not pd.isna(plan):
            planned[activity] = float(plan)
        if done is not None and not pd.isna(done):
            actual[activity] = (float(done), f" ({source})" if isinstance(source, str) and source else "")
    measured: dict[object, tuple[float, str]] = {}
    for activity, label, value in zip(
        indicators["activity"].tolist(),
        indicators["label"].tolist(),
        indicators["value"].tolist(),
        strict=True,
    ):
        if activity not in measured and value is not None and not pd.isna(value):
            measured[activity] = (float(value), str(label))
    chosen_volume: list[float] = []
    chosen_source: list[str | None] = []
    chosen_label: list[str | None] = []
    for activity, reference in zip(activities.index.tolist(), activities["volume"].tolist(), strict=True):
        chain: list[tuple[float, str, str]] = []
        if basis != "actual" and activity in planned:
            chain.append((planned[activity], "prevu", f"prévu {year}"))
        if activity in actual:
            chain.append((actual[activity][0], "realise", f"réalisé {year}{actual[activity][1]}"))
        if activity in measured:
            chain.append(
                (measured[activity][0], "indicateur", f"indicateur « {measured[activity][1]} », {year}")
            )
        if reference is not None and not pd.isna(reference):
            chain.append((float(reference), "reference", "volume de référence de l'activité"))
        volume, source, label = chain[0] if chain else (math.nan, None, None)
        chosen_volume.append(volume)
        chosen_source.append(source)
        chosen_label.append(label)
    return pd.DataFrame(
        {"volume": chosen_volume, "volume_source": chosen_source, "volume_label": chosen_label},
        index=activities.index,
    )
