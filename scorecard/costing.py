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

from collections.abc import Sequence
from typing import Literal, cast

import numpy as np
import pandas as pd

Method = Literal["direct", "step-down", "reciprocal"]


class CostingError(ValueError):
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
    centres = list(direct.index)
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

    def row(provider: str) -> pd.Series:
        return cast(pd.Series, keys.loc[provider])

    def normalised(row: pd.Series, receivers: list[str], provider: str) -> pd.Series:
        part = row[receivers]
        total = float(part.sum())
        if total <= 0:
            raise CostingError(
                f"la fonction support « {provider} » ne sert aucun centre restant : ses clés sont nulles"
            )
        return part / total

    full = d[operational].copy()
    if method == "direct":
        for s in support:
            full += d[s] * normalised(row(s), operational, s)
        return full
    if method == "step-down":
        accumulated = d.copy()
        remaining = list(support)
        for s in support:
            remaining.remove(s)
            receivers = remaining + operational
            shares = normalised(row(s), receivers, s)
            for receiver, share in zip(shares.index.tolist(), shares.tolist(), strict=True):
                accumulated[str(receiver)] += accumulated[s] * float(share)
        return accumulated[operational]
    if method == "reciprocal":
        served = pd.DataFrame({s: normalised(row(s), centres, s) for s in support}).T  # rows: supports
        k_ss = served[support].to_numpy()
        try:
            x = np.linalg.solve(np.eye(len(support)) - k_ss.T, d[support].to_numpy())
        except np.linalg.LinAlgError:
            raise CostingError(
                "services réciproques sans solution : des fonctions support ne servent qu'elles-mêmes"
            ) from None
        return full + pd.Series(x @ served[operational].to_numpy(), index=operational)
    raise CostingError(f"méthode de répartition inconnue : {method}")


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
