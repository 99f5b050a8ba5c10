"""Target trajectories: from a start value to an end value over a run of periods.

``linear``: equal steps, ``v_k = start + (end - start) x k / (n - 1)``;
``geometric``: equal growth rates, ``v_k = start x (end / start)^(k / (n - 1))`` (start and end
must then be positive); ``constant``: the end value throughout. With one period, the end value.
"""

from __future__ import annotations

from typing import Literal

Shape = Literal["linear", "geometric", "constant"]
SHAPES: dict[str, str] = {"linear": "linéaire", "geometric": "à taux constant", "constant": "constante"}


def trajectory(start: float, end: float, periods: int, shape: Shape = "linear") -> list[float]:
    """The ``periods`` target values from ``start`` to ``end`` (see the module for the formulas)."""
    if periods < 1:
        raise ValueError("la trajectoire doit couvrir au moins une période")
    if shape == "constant" or periods == 1:
        return [end] * periods
    if shape == "geometric":
        if start <= 0 or end <= 0:
            raise ValueError(
                "une trajectoire à taux constant demande des valeurs de départ et d'arrivée positives"
            )
        ratio = end / start
        return [start * ratio ** (k / (periods - 1)) for k in range(periods)]
    if shape == "linear":
        step = (end - start) / (periods - 1)
        return [start + step * k for k in range(periods)]
    raise ValueError(f"forme de trajectoire inconnue : {shape}")
