"""The coverage model: how much of each need an offer covers, each unit of output counted once.

One model for every page, file and computation that shows or uses coverage (needs register, need
sheet, coherence matrix and gaps, ABS report, scenario "today" and "after", the scorecard's
coverage indicators) and the one from which the optimizer derives its ``cover[n]`` constraints
(``optimizer.problem.Problem.arrays``). Pure: numpy and pandas, no database.

Notation
--------
``a`` activity, ``n`` need, ``t`` territory (a node of the organisation's territory tree).

- ``x_a``   output of activity a (units per year: meals, hours, files);
- ``k_an``  coefficient: persons of need n answered by one unit of a's output (persons per unit);
- ``d_at``  delivery share: fraction of a's output delivered in territory t (``ActivityDelivery``);
- ``e_an``  explicit share of a's output given to n (``ActivityNeedCoverage.share``), or none;
- ``S_n``   size of need n (persons; unknown when statistically secret), ``T_n`` its territory.

The rule
--------
1. **Where.** An activity with no delivery row is delivered everywhere (``d = 1`` on a single
   implicit territory that reaches every need it serves). Otherwise a delivery in ``t`` *reaches*
   need n when ``t`` and ``T_n`` lie on one branch of the tree: ``t = T_n``, ``t`` contains ``T_n``
   (a delivery on the commune reaches the needs of its IRIS) or ``T_n`` contains ``t`` (a delivery
   in an IRIS reaches the needs of its commune, EPCI, département). Sibling territories do not
   reach each other. A need without a territory is reached by every delivery.
2. **Shared once.** The output delivered in ``t``, ``x_a d_at``, is shared among the needs of a
   that it reaches there, ``R(a, t)``: a need with an explicit share gets ``e_an``; the rest,
   ``1 - sum of the explicit shares in R(a, t)``, goes to the other needs of ``R(a, t)`` pro rata
   of their sizes, ``S_n / sum_{m in R(a,t), no explicit share} S_m`` (equal parts when none of
   them has a known positive size). Explicit shares adding up to more than 1 in ``R(a, t)`` are
   scaled down to add up to 1 (and the pro-rata needs get nothing there).
3. **Counted share** ``s_an = sum_t d_at x share_an(t)`` (dimensionless, ``sum_n s_an <= 1``);
   persons offered ``o_n = sum_a k_an s_an x_a``; covered ``c_n = min(o_n, S_n)``; rate
   ``c_n / S_n``.

Sizes are data, not decisions, so the shares are constants: the optimizer's constraint
``c_n <= sum_a k_an s_an x_a`` stays linear in the volumes.

Edge cases
----------
- a need of unknown size weighs 0 in the pro rata (it takes a part only when no need of the
  delivery has a known size) and gets no covered figure (NaN): never read as covered;
- output delivered where none of its needs is (``R(a, t)`` empty), and the remainder left when
  explicit shares add up to less than 1 with no other need reached, are counted for no need;
- delivery shares of one activity adding up to more than 1 are scaled to 1; less than 1 leaves
  the rest undelivered (counted nowhere);
- links of zero coefficient count nothing but still take their part of the output (as set);
- a person can belong to several needs (aged 80+ and receiving the AAH): summing covered figures
  over needs counts *needs covered* ("besoins couverts"), not distinct persons.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

K = TypeVar("K", bound=Hashable)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

RULE_FR = (
    "Chaque unité produite par une activité est comptée une fois : dans chaque territoire où elle est "
    "délivrée (partout si aucun lieu n'est indiqué), elle est partagée entre les besoins qu'elle y "
    "atteint (même territoire, territoire qui le contient ou qu'il contient), au prorata de leurs "
    "effectifs sauf part explicite ; couverts = min(offre, effectif)."
)


def ancestry_matrix(parents: Mapping[K, K | None]) -> tuple[dict[K, int], BoolArray]:
    """Index of each territory and ``A[i, j]`` = territory j is i or one of i's ancestors.

    Parameters
    ----------
    parents : mapping
        Territory key -> parent key (``None`` for a root). A parent absent from the keys is added
        as a root; a cycle is cut where it closes (the tree stays finite).

    Returns
    -------
    index : dict
        Territory key -> row/column of ``A``.
    A : ndarray of bool, shape (T, T)
    """
    keys: list[K] = list(parents)
    for parent in list(parents.values()):
        if parent is not None and parent not in parents and parent not in keys:
            keys.append(parent)
    index = {key: i for i, key in enumerate(keys)}
    matrix = np.eye(len(keys), dtype=np.bool_)
    for key, i in index.items():
        seen = {key}
        parent = parents.get(key)
        while parent is not None and parent not in seen:
            matrix[i, index[parent]] = True
            seen.add(parent)
            parent = parents.get(parent)
    return index, matrix


def counted_shares(
    link_activity: npt.ArrayLike,
    link_need: npt.ArrayLike,
    explicit_share: npt.ArrayLike,
    need_size: npt.ArrayLike,
    need_territory: npt.ArrayLike,
    delivery_activity: npt.ArrayLike = (),
    delivery_territory: npt.ArrayLike = (),
    delivery_share: npt.ArrayLike = (),
    ancestry: BoolArray | None = None,
) -> FloatArray:
    """The counted share ``s_an`` of each link (activity a -> need n), by the rule of the module.

    Parameters
    ----------
    link_activity, link_need : array of int, shape (L,)
        Activity index and need index of each link; a pair appears at most once.
    explicit_share : array of float, shape (L,)
        ``e_an`` in [0, 1], NaN where the pro rata rule decides.
    need_size : array of float, shape (N,)
        ``S_n`` in persons, NaN when unknown.
    need_territory : array of int, shape (N,)
        Territory index of each need (row of ``ancestry``), -1 for a need without territory.
    delivery_activity, delivery_territory, delivery_share : arrays, shape (D,)
        The deliveries ``(a, t, d_at)``; an activity without any is delivered everywhere.
    ancestry : bool array (T, T), optional
        :func:`ancestry_matrix`; without it, a delivery reaches only needs of the same territory.

    Returns
    -------
    ndarray of float, shape (L,)
        ``s_an``, dimensionless, ``0 <= s_an <= 1`` and ``sum_n s_an <= 1`` for each activity.
    """
    la = np.asarray(link_activity, dtype=np.int64)
    ln = np.asarray(link_need, dtype=np.int64)
    explicit = np.asarray(explicit_share, dtype=np.float64)
    size = np.asarray(need_size, dtype=np.float64)
    territory = np.asarray(need_territory, dtype=np.int64)
    da = np.asarray(delivery_activity, dtype=np.int64)
    dt = np.asarray(delivery_territory, dtype=np.int64)
    dd = np.asarray(delivery_share, dtype=np.float64)
    n_links = len(la)
    if n_links == 0:
        return np.zeros(0, dtype=np.float64)
    n_acts = int(max(la.max(initial=-1), da.max(initial=-1))) + 1
    # delivery shares above 1 in total are scaled to 1
    total = np.bincount(da, weights=dd, minlength=n_acts)
    dd = dd / np.maximum(total[da], 1.0) if len(da) else dd
    located = np.zeros(n_acts, dtype=np.bool_)
    located[da] = True

    # pairs (link, delivery): a located link meets each delivery of its activity; an unlocated
    # one meets its implicit delivery everywhere (territory -2, share 1)
    order = np.argsort(da, kind="stable")
    da_sorted = da[order]
    first = np.searchsorted(da_sorted, la, side="left")
    last = np.searchsorted(da_sorted, la, side="right")
    counts = np.where(located[la], last - first, 1)
    pair_link = np.repeat(np.arange(n_links), counts)
    offsets = np.arange(len(pair_link)) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_located = located[la[pair_link]]
    pair_territory = np.full(len(pair_link), -2, dtype=np.int64)
    pair_d = np.ones(len(pair_link), dtype=np.float64)
    if len(da):
        where = order[first[pair_link[pair_located]] + offsets[pair_located]]
        pair_territory[pair_located] = dt[where]
        pair_d[pair_located] = dd[where]
    need_t = territory[ln[pair_link]]
    if ancestry is None or ancestry.shape[0] == 0:
        related = (pair_territory >= 0) & (pair_territory == need_t)
    else:
        t_max = ancestry.shape[0]
        ok = (pair_territory >= 0) & (need_t >= 0) & (pair_territory < t_max) & (need_t < t_max)
        pt, nt = np.where(ok, pair_territory, 0), np.where(ok, need_t, 0)
        related = ok & (ancestry[nt, pt] | ancestry[pt, nt])
    reach = (pair_territory == -2) | (need_t < 0) | related
    pair_link, pair_territory, pair_d = pair_link[reach], pair_territory[reach], pair_d[reach]
    if len(pair_link) == 0:
        return np.zeros(n_links, dtype=np.float64)

    # groups (activity, delivery territory), numbered in their sorted order: one integer key per
    # pair, ordered as the pairs are (as np.unique of the pairs by rows would number them, about
    # ten times faster)
    low = int(pair_territory.min())
    span = int(pair_territory.max()) - low + 1
    groups, group = np.unique(la[pair_link] * span + (pair_territory - low), return_inverse=True)
    group = group.ravel()
    n_groups = len(groups)
    e = explicit[pair_link]
    has_e = ~np.isnan(e)
    e_sum = np.bincount(group, weights=np.where(has_e, e, 0.0), minlength=n_groups)
    scale = 1.0 / np.maximum(e_sum, 1.0)
    rest = np.maximum(0.0, 1.0 - e_sum)
    weight = np.where(has_e, 0.0, np.nan_to_num(np.maximum(size[ln[pair_link]], 0.0), nan=0.0))
    w_sum = np.bincount(group, weights=weight, minlength=n_groups)
    n_rule = np.bincount(group, weights=(~has_e).astype(np.float64), minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        rule_part = np.where(
            w_sum[group] > 0,
            weight / np.where(w_sum[group] > 0, w_sum[group], 1.0),
            1.0 / np.where(n_rule[group] > 0, n_rule[group], 1.0),
        )
    part = np.where(has_e, e * scale[group], rest[group] * rule_part)
    return np.bincount(pair_link, weights=pair_d * part, minlength=n_links).astype(np.float64)


def offered_persons(
    n_needs: int,
    link_activity: npt.ArrayLike,
    link_need: npt.ArrayLike,
    effective_coefficient: npt.ArrayLike,
    volume: npt.ArrayLike,
) -> FloatArray:
    """Persons offered to each need, ``o_n = sum_a k_an s_an x_a``.

    ``effective_coefficient`` is ``k_an s_an`` by link (persons per unit of output); ``volume``
    is ``x_a`` by activity (units). Returns persons, shape ``(n_needs,)``; NaN volumes count 0.
    """
    la = np.asarray(link_activity, dtype=np.int64)
    x = np.nan_to_num(np.asarray(volume, dtype=np.float64), nan=0.0)
    k = np.asarray(effective_coefficient, dtype=np.float64)
    need = np.asarray(link_need, dtype=np.int64)
    return np.bincount(need, weights=k * x[la], minlength=n_needs).astype(np.float64)


def covered_persons(size: npt.ArrayLike, offered: npt.ArrayLike) -> FloatArray:
    """Covered ``c_n = min(o_n, S_n)`` persons; NaN where the size is unknown (NaN) or not positive."""
    s = np.asarray(size, dtype=np.float64)
    o = np.asarray(offered, dtype=np.float64)
    known = ~np.isnan(s) & (s > 0)
    return np.where(known, np.minimum(o, np.where(known, s, 0.0)), np.nan)


@dataclass(frozen=True)
class CoverageResult:
    """:func:`compute_coverage`'s answer.

    ``links``: the links given, with ``counted_share`` (``s_an``), ``effective_coefficient``
    (``k_an s_an``) and ``persons`` (``k_an s_an x_a``); ``needs``: by need, ``offered`` and
    ``covered`` persons and ``coverage_rate`` (NaN for a need of unknown size).
    """

    links: pd.DataFrame
    needs: pd.DataFrame


def compute_coverage(
    needs: pd.DataFrame,
    activities: pd.DataFrame,
    links: pd.DataFrame,
    deliveries: pd.DataFrame | None = None,
    parents: Mapping[Hashable, Hashable | None] | None = None,
) -> CoverageResult:
    """Coverage of every need by the offer, each unit of output counted once (module rule).

    Parameters
    ----------
    needs : DataFrame, index = need id
        ``size`` (persons, NaN unknown); ``territory_id`` (territory key, NaN/None: none).
    activities : DataFrame, index = activity id
        ``volume`` (units of output per year, NaN = 0).
    links : DataFrame
        ``activity_id``, ``need_id``, ``coefficient`` (persons per unit), optional ``share``
        (explicit share, NaN = pro rata). Links to unknown needs or activities are ignored.
    deliveries : DataFrame, optional
        ``activity_id``, ``territory_id``, ``share``; none for an activity = delivered everywhere.
    parents : mapping, optional
        Territory key -> parent key: the tree that decides which deliveries reach which needs.

    Returns
    -------
    CoverageResult
    """
    import pandas as pd  # the optimizer's arrays need only numpy: `pilotis optimize` starts without

    frame = links[links["need_id"].isin(needs.index) & links["activity_id"].isin(activities.index)].copy()
    frame = frame.reset_index(drop=True)
    need_pos = pd.Series(np.arange(len(needs)), index=needs.index)
    act_pos = pd.Series(np.arange(len(activities)), index=activities.index)
    tree = dict(parents or {})
    for key in needs.get("territory_id", pd.Series(dtype=object)).dropna():
        tree.setdefault(key, None)
    if deliveries is not None:
        for key in deliveries["territory_id"].dropna():
            tree.setdefault(key, None)
    index, ancestry = ancestry_matrix(tree)
    need_t = np.array(
        [
            index.get(t, -1) if t is not None and t == t else -1
            for t in needs.get("territory_id", pd.Series([None] * len(needs), index=needs.index))
        ],
        dtype=np.int64,
    )
    if deliveries is not None and len(deliveries):
        kept = deliveries[deliveries["activity_id"].isin(activities.index)]
        d_act = act_pos.loc[kept["activity_id"]].to_numpy()
        d_ter = np.array([index[t] for t in kept["territory_id"]], dtype=np.int64)
        d_share = kept["share"].astype(float).to_numpy()
    else:
        d_act = d_ter = np.zeros(0, dtype=np.int64)
        d_share = np.zeros(0)
    la = act_pos.loc[frame["activity_id"]].to_numpy()
    ln = need_pos.loc[frame["need_id"]].to_numpy()
    explicit = frame["share"].astype(float).to_numpy() if "share" in frame else np.full(len(frame), np.nan)
    size = needs["size"].astype(float).to_numpy()
    shares = counted_shares(la, ln, explicit, size, need_t, d_act, d_ter, d_share, ancestry)
    volume = activities["volume"].astype(float).to_numpy()
    frame["counted_share"] = shares
    frame["effective_coefficient"] = frame["coefficient"].astype(float).to_numpy() * shares
    frame["persons"] = frame["effective_coefficient"].to_numpy() * np.nan_to_num(volume[la], nan=0.0)
    offered = offered_persons(len(needs), la, ln, frame["effective_coefficient"].to_numpy(), volume)
    covered = covered_persons(size, offered)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(np.isnan(covered), np.nan, covered / np.where(size > 0, size, 1.0))
    result = pd.DataFrame({"offered": offered, "covered": covered, "coverage_rate": rate}, index=needs.index)
    return CoverageResult(links=frame, needs=result)


def unique_labels(names: Sequence[str], codes: Sequence[str]) -> list[str]:
    """Names made unique where two territories share one: ``name (code)`` for those."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [f"{n} ({c})" if seen[n] > 1 else n for n, c in zip(names, codes, strict=True)]
