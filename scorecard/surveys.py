"""Citizen surveys and priority consultations (pure): proportions, means, breakdowns, weights.

Glossary of columns
-------------------
answers (one row per option chosen by a respondent to one question):
    ``response`` (respondent id, hashable; rows without one are left out), ``option`` (the code
    of the chosen option; a multiple-choice question has one row per option ticked, so a
    respondent may appear several times; a missing option still counts the respondent).
frame of :func:`breakdown` (one row per respondent):
    ``group`` (hashable label; None/NaN means unknown and is shown as :data:`UNKNOWN_GROUP`),
    ``positive`` (bool: the respondent answered "yes").
allocations (one row per respondent and need of a priority consultation):
    ``response`` (respondent id), ``need`` (need code), ``points`` (float >= 0: points given
    to the need, or a rating where 0 means "not a priority").

Rules
-----
- Shares and rates are fractions in [0, 1], never percentages.
- Proportion interval (Wilson score, not the Wald interval that fails near 0 and 1): with
  ``p = k / n`` and ``z`` the two-sided normal critical value,
  ``centre = (p + z²/2n) / (1 + z²/n)``,
  ``half = z / (1 + z²/n) * sqrt(p (1 - p) / n + z²/4n²)``; the bounds are clipped to [0, 1]
  and are exactly 0 when ``k = 0`` and 1 when ``k = n``. ``n = 0`` gives (NaN, NaN).
- Mean interval (Student): ``mean ± t_{n-1} * s / sqrt(n)``, ``s`` the sample standard
  deviation (``ddof = 1``); NaN values are left out; ``n = 0`` gives NaN everywhere, ``n = 1``
  the value with NaN bounds. ``t`` comes from the Student distribution function, computed with
  the regularised incomplete beta function (continued fraction, Numerical Recipes ``betacf``)
  and inverted by bisection.
- Distribution of a question: ``count`` = distinct respondents who chose the option,
  ``share = count / distinct respondents of the question`` (so the shares of a multiple-choice
  question may add up to more than 1); options not listed are not shown but their respondents
  stay in the denominator.
- Breakdown by group (statistical confidentiality, see :data:`CONFIDENTIALITY_RULE`): the
  number of respondents is shown; what they answered is not when ``0 < n < threshold``
  (``positive``, ``rate``, ``low``, ``high`` are NaN, ``masked`` is True). As the total over all
  groups is assumed shown elsewhere, a single masked group could be recovered by subtraction: the
  smallest other unmasked group (by ``n``, ties by label) is then masked too.
- Priority consultation (see :data:`CONSULTATION_RULE`): each respondent's points over the
  listed needs are normalised to shares summing to 1 (a need left out counts 0, several rows for
  the same need add up); respondents with 0 points in total, or no row, are left out; every
  counted respondent weighs the same. ``score`` = mean share over the counted respondents, with
  its Student interval. Scores add up to 1 when anybody is counted.
- Proposed weights: ``w_i = score_i / mean_j(score_j) * mean_j(elected_j)`` over the needs ``j``
  with both a finite score and a finite elected weight, so that the mean of the proposed weights
  equals the élus' mean weight over those needs and only relative priorities change. A score of
  0 gives 0; a need without a finite score (or without a finite elected weight) gives NaN; when
  no score is positive, every weight is NaN. Nothing is rounded.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

#: The label of respondents whose group is unknown.
UNKNOWN_GROUP = "Non renseigné"

CONSULTATION_RULE = (
    "Les points de chaque participant sont ramenés à des parts dont la somme fait 100 % : une "
    "personne compte pour une voix, quel que soit le nombre de points qu'elle a utilisés, et celles "
    "qui n'ont donné aucun point ne sont pas comptées. Le score d'un besoin est la part moyenne que "
    "les participants lui accordent. Ces scores sont convertis en pondérations proposées ayant la même "
    "moyenne que les pondérations fixées par les élus : seules les priorités relatives changent, et "
    "elles ne s'appliquent jamais sans une décision des élus."
)
CONFIDENTIALITY_RULE = (
    "Secret statistique : pour un groupe de moins de {threshold} répondants, le nombre de répondants "
    "est indiqué mais pas ce qu'ils ont répondu ; tant qu'un seul groupe est masqué, ou que les groupes "
    "masqués comptent ensemble moins de {threshold} répondants, le plus petit des autres groupes l'est "
    "aussi, pour que leurs réponses ne puissent pas être retrouvées à partir du total."
)

#: Convergence of the continued fraction of the incomplete beta function.
_EPSILON = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 100_000
#: Bisection of the t quantile: relative width of the final bracket.
_BISECTION_TOLERANCE = 1e-10
_MAX_BISECTIONS = 400
#: Above this many degrees of freedom the t quantile comes from its Cornish-Fisher expansion
#: (error below 1e-15 there), where the continued fraction would need too many terms.
_LARGE_DF = 1e5


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"niveau de confiance hors de ]0, 1[ : {confidence}")


def _z(confidence: float) -> float:
    _check_confidence(confidence)
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} : colonne(s) manquante(s) : {', '.join(missing)}")


def _require_unique(labels: Sequence[Hashable], name: str) -> None:
    seen: set[Hashable] = set()
    for label in labels:
        if label in seen:
            raise ValueError(f"{name} en double : {label!r}")
        seen.add(label)


def proportion_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / n``, as fractions in [0, 1].

    Parameters
    ----------
    successes, n
        Counts, ``0 <= successes <= n`` (``ValueError`` otherwise).
    confidence
        Two-sided level in ]0, 1[.

    Returns
    -------
    (low, high)
        (NaN, NaN) when ``n == 0``.
    """
    z = _z(confidence)
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"effectifs incohérents : {successes} sur {n}")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if successes == 0 else min(max(centre - half, 0.0), p)
    high = 1.0 if successes == n else max(min(centre + half, 1.0), p)
    return (low, high)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPSILON:
            return h
    raise ArithmeticError(
        "fraction continue de la fonction bêta incomplète non convergente"
    )  # pragma: no cover


def _regularized_beta(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b), with ``y = 1 - x`` passed separately to keep its precision when x is near 1."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def _two_sided_tail(t: float, df: float) -> float:
    """P(|T| > t) for a Student T with ``df`` degrees of freedom, t >= 0."""
    t2 = t * t
    return _regularized_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def _cornish_fisher(z: float, df: float) -> float:
    """Student quantile from the normal one, expansion in 1/df (large df only)."""
    z3 = z**3
    z5 = z**5
    z7 = z**7
    return (
        z
        + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df**2)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df**3)
    )


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """Two-sided critical value of Student's t: ``P(|T_df| <= t) = confidence``.

    Parameters
    ----------
    df
        Degrees of freedom, ``>= 1`` (``ValueError`` otherwise).
    confidence
        Two-sided level in ]0, 1[.

    Notes
    -----
    The tail ``P(|T| > t) = I_{df/(df+t²)}(df/2, 1/2)`` (regularised incomplete beta function, by
    its continued fraction) is decreasing in ``t``; it is inverted by bisection to a relative
    width of 1e-10. Beyond 1e5 degrees of freedom, the Cornish-Fisher expansion is used.
    """
    _check_confidence(confidence)
    if not df >= 1:
        raise ValueError(f"degrés de liberté inférieurs à 1 : {df}")
    alpha = 1.0 - confidence
    nu = float(df)
    if nu > _LARGE_DF:
        return _cornish_fisher(_z(confidence), nu)
    low, high = 0.0, 1.0
    while _two_sided_tail(high, nu) > alpha:
        low, high = high, high * 2.0
    for _ in range(_MAX_BISECTIONS):
        if high - low <= _BISECTION_TOLERANCE * max(1.0, high):
            break
        middle = (low + high) / 2.0
        if middle in (low, high):  # pragma: no cover - floating-point resolution reached
            break
        if _two_sided_tail(middle, nu) > alpha:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def mean_ci(
    values: Sequence[float] | np.ndarray | pd.Series, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``values`` and its Student interval ``mean ± t_{n-1} * s / sqrt(n)``.

    NaN values are left out; ``s`` is the sample standard deviation (``ddof = 1``).

    Returns
    -------
    (mean, low, high)
        (NaN, NaN, NaN) when no value is known; (value, NaN, NaN) for a single value.
    """
    _check_confidence(confidence)
    array = np.asarray(values, dtype=float).ravel()
    known = array[~np.isnan(array)]
    n = int(known.size)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(np.mean(known))
    if n == 1:
        return (mean, math.nan, math.nan)
    s = float(np.std(known, ddof=1))
    half = t_quantile(n - 1, confidence) * s / math.sqrt(n)
    return (mean, mean - half, mean + half)


def distribution(answers: pd.DataFrame, options: Sequence[str], *, confidence: float = 0.95) -> pd.DataFrame:
    """Answers to one question, option by option, with Wilson intervals.

    Parameters
    ----------
    answers
        Columns ``response`` and ``option`` (see the glossary).
    options
        The options to show, in this order (``ValueError`` when one is listed twice).

    Returns
    -------
    pd.DataFrame
        Index ``option`` (the given order); ``count`` (int, distinct respondents choosing the
        option), ``share`` (``count`` / distinct respondents of ``answers``), ``low``, ``high``
        (Wilson). Without any respondent: counts 0, the rest NaN.
    """
    _check_confidence(confidence)
    _require_columns(answers, ("response", "option"), "answers")
    listed = list(options)
    _require_unique(listed, "option")
    known = answers.loc[answers["response"].notna(), ["response", "option"]]
    total = int(known["response"].nunique())
    chosen = known.loc[known["option"].isin(listed)]
    per_option = chosen.groupby("option", sort=False)["response"].nunique()
    found = {option: int(count) for option, count in per_option.items()}
    counts = [found.get(option, 0) for option in listed]
    shares: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    for count in counts:
        low, high = proportion_ci(count, total, confidence)
        shares.append(count / total if total else math.nan)
        lows.append(low)
        highs.append(high)
    return pd.DataFrame(
        {
            "count": np.array(counts, dtype=np.int64),
            "share": np.array(shares, dtype=float),
            "low": np.array(lows, dtype=float),
            "high": np.array(highs, dtype=float),
        },
        index=pd.Index(listed, name="option", dtype=object),
    )


def _sorted_labels(labels: Iterable[Hashable]) -> list[Hashable]:
    """Labels in their natural order; by type name then text when they cannot be compared."""
    items = list(labels)
    try:
        return sorted(items)  # type: ignore[type-var]
    except TypeError:
        return sorted(items, key=lambda label: (type(label).__name__, str(label)))


def breakdown(frame: pd.DataFrame, *, threshold: int, confidence: float = 0.95) -> pd.DataFrame:
    """Rate of "yes" by group, with statistical confidentiality.

    Rule: the number of respondents is shown; what they answered is not. A group with
    ``0 < n < threshold`` respondents is masked: ``positive``, ``rate``, ``low`` and ``high`` are
    NaN, ``n`` stays. As the total over all groups is assumed shown elsewhere, the masked groups
    taken together could be recovered by subtraction: so while a single group is masked, or the
    masked groups hold fewer than ``threshold`` respondents together, the smallest unmasked group
    (by ``n``, ties by label) is masked too.

    Parameters
    ----------
    frame
        Columns ``group`` (None/NaN: grouped under :data:`UNKNOWN_GROUP`) and ``positive`` (bool;
        ``ValueError`` on a missing or non-boolean value).
    threshold
        The fewest respondents whose answers may be shown, ``>= 1`` (``ValueError`` otherwise).

    Returns
    -------
    pd.DataFrame
        One row per group sorted by label (index ``group``): ``n`` (int), ``positive`` (count,
        float for NaN), ``rate`` (fraction), ``low``, ``high`` (Wilson), ``masked`` (bool).
    """
    if threshold < 1:
        raise ValueError(f"seuil de secret statistique inférieur à 1 : {threshold}")
    _check_confidence(confidence)
    _require_columns(frame, ("group", "positive"), "frame")
    answered = frame["positive"]
    if answered.isna().any() or not answered.isin([True, False]).all():
        raise ValueError("positive : valeurs manquantes ou non booléennes")
    groups = frame["group"].astype(object)
    labels = groups.where(groups.notna(), UNKNOWN_GROUP)
    tally: dict[Hashable, list[int]] = {}
    for label, yes in zip(labels.tolist(), answered.tolist(), strict=True):
        entry = tally.setdefault(label, [0, 0])
        entry[0] += 1
        entry[1] += int(bool(yes))
    order = _sorted_labels(tally)
    sizes = [tally[label][0] for label in order]
    masked = [0 < size < threshold for size in sizes]
    # the total minus the shown groups gives the masked groups' answers together: they must be at
    # least two groups and ``threshold`` respondents between them
    while any(masked) and (
        sum(masked) == 1 or sum(s for s, m in zip(sizes, masked, strict=True) if m) < threshold
    ):
        others = [i for i, hidden in enumerate(masked) if not hidden]
        if not others:
            break
        masked[min(others, key=lambda i: (sizes[i], i))] = True
    positives: list[float] = []
    rates: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    for label, size, hidden in zip(order, sizes, masked, strict=True):
        if hidden:
            positives.append(math.nan)
            rates.append(math.nan)
            lows.append(math.nan)
            highs.append(math.nan)
            continue
        yes_count = tally[label][1]
        low, high = proportion_ci(yes_count, size, confidence)
        positives.append(float(yes_count))
        rates.append(yes_count / size)
        lows.append(low)
        highs.append(high)
    return pd.DataFrame(
        {
            "n": np.array(sizes, dtype=np.int64),
            "positive": np.array(positives, dtype=float),
            "rate": np.array(rates, dtype=float),
            "low": np.array(lows, dtype=float),
            "high": np.array(highs, dtype=float),
            "masked": np.array(masked, dtype=bool),
        },
        index=pd.Index(order, name="group", dtype=object),
    )


def _check_points(allocations: pd.DataFrame) -> pd.Series:
    points = pd.to_numeric(allocations["points"], errors="coerce").astype(float)
    problems = (
        (points.isna(), "points manquants ou non numériques"),
        (np.isinf(points), "points infinis"),
        (points < 0, "points négatifs"),
    )
    for wrong, message in problems:
        if wrong.any():
            first = allocations.loc[wrong].iloc[0]
            raise ValueError(
                f"allocations : {message} (réponse {first['response']!r}, besoin {first['need']!r})"
            )
    return points


def consultation_scores(
    allocations: pd.DataFrame, needs: Sequence[str], *, confidence: float = 0.95
) -> pd.DataFrame:
    """Scores of the needs of a priority consultation, one person one voice.

    Each respondent's points over ``needs`` are normalised to shares summing to 1 (a need left
    out counts 0; several rows for one need add up); respondents with 0 points in total or no row
    are left out; the score of a need is the mean share over the counted respondents, with its
    Student interval (:func:`mean_ci`). Rows of needs not listed are ignored.

    Parameters
    ----------
    allocations
        Columns ``response``, ``need``, ``points`` (``ValueError`` naming the problem when a
        value is negative, missing, not numeric or infinite, on any row).
    needs
        The needs to score, in this order (``ValueError`` when one is listed twice).

    Returns
    -------
    pd.DataFrame
        Index ``need``; ``respondents`` (int, counted respondents, the same on every row),
        ``score``, ``low``, ``high`` (fractions). Scores are NaN when nobody is counted.
    """
    _check_confidence(confidence)
    _require_columns(allocations, ("response", "need", "points"), "allocations")
    listed = list(needs)
    _require_unique(listed, "besoin")
    points = _check_points(allocations)
    data = pd.DataFrame({"response": allocations["response"], "need": allocations["need"], "points": points})
    data = data.loc[data["response"].notna() & data["need"].isin(listed)]
    totals: dict[Hashable, dict[Hashable, float]] = {}
    for response, need, given in zip(
        data["response"].tolist(), data["need"].tolist(), data["points"].tolist(), strict=True
    ):
        row = totals.setdefault(response, {})
        row[need] = row.get(need, 0.0) + float(given)
    table = np.zeros((len(totals), len(listed)), dtype=float)
    position: dict[Hashable, int] = {need: j for j, need in enumerate(listed)}
    for i, row in enumerate(totals.values()):
        for need, given in row.items():
            table[i, position[need]] = given
    sums = table.sum(axis=1)
    counted = table[sums > 0]
    shares = counted / sums[sums > 0][:, np.newaxis]
    respondents = int(shares.shape[0])
    columns: dict[str, list[float]] = {"score": [], "low": [], "high": []}
    for j in range(len(listed)):
        score, low, high = mean_ci(shares[:, j], confidence)
        columns["score"].append(score)
        columns["low"].append(low)
        columns["high"].append(high)
    return pd.DataFrame(
        {
            "respondents": np.full(len(listed), respondents, dtype=np.int64),
            "score": np.array(columns["score"], dtype=float),
            "low": np.array(columns["low"], dtype=float),
            "high": np.array(columns["high"], dtype=float),
        },
        index=pd.Index(listed, name="need", dtype=object),
    )


def proposed_weights(scores: pd.Series, elected: pd.Series) -> pd.Series:
    """The consultation's priorities as weights on the élus' scale.

    ``w_i = score_i / mean_j(score_j) * mean_j(elected_j)``, the means over the needs with both
    a finite score and a finite elected weight: the proposed weights have the élus' mean weight
    and only the relative priorities change. A score of 0 gives 0; a need missing from
    ``scores``, or whose score or elected weight is not finite, gives NaN; when no score is
    positive, every weight is NaN. Nothing is rounded.

    Parameters
    ----------
    scores
        Scores by need (e.g. the ``score`` column of :func:`consultation_scores`).
    elected
        The élus' weights by need (``ValueError`` when a need appears twice in either series).

    Returns
    -------
    pd.Series
        Float, indexed like ``elected``, named like it.
    """
    if scores.index.has_duplicates or elected.index.has_duplicates:
        raise ValueError("besoin en double dans les scores ou les pondérations")
    aligned = pd.to_numeric(scores, errors="coerce").astype(float).reindex(elected.index)
    weights = pd.to_numeric(elected, errors="coerce").astype(float)
    score_values = aligned.to_numpy(dtype=float)
    weight_values = weights.to_numpy(dtype=float)
    usable = np.isfinite(score_values) & np.isfinite(weight_values)
    result = np.full(len(elected), math.nan)
    if usable.any():
        score_mean = float(np.mean(score_values[usable]))
        if score_mean > 0:
            weight_mean = float(np.mean(weight_values[usable]))
            result[usable] = score_values[usable] / score_mean * weight_mean
    return pd.Series(result, index=elected.index, name=elected.name, dtype=float)
