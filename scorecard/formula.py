"""Formulas of computed indicators: parsed safely, ordered by dependency, evaluated in bulk.

A formula is an arithmetic expression over other indicators' codes and numbers::

    cout_portage / repas_livres
    100 * beneficiaires_portage / population_80_plus
    (cout_saad + cout_portage) / (heures_aide_domicile + repas_livres)

Allowed: numbers, indicator codes, ``+ - * /``, unary ``-``, parentheses, and the functions
``min(a, b, …)``, ``max(a, b, …)`` and ``abs(a)``. Nothing is ever passed to ``eval``: the
text is parsed by :mod:`ast` and every node is checked against that whitelist.

Edge cases: a division by zero gives a missing value (NaN), never an infinite one; any missing
operand makes the result missing.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

import numpy as np
import pandas as pd

from scorecard.errors import UserError

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_LENGTH = 500
FUNCTIONS: dict[str, Callable[..., Any]] = {"min": np.fmin, "max": np.fmax, "abs": np.abs}


class FormulaError(UserError):
    """A formula that cannot be used; the message says what and where, in French."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its text, its syntax tree and the codes it reads."""

    text: str
    tree: ast.expr
    codes: frozenset[str]


def parse_formula(text: str) -> Formula:
    """Parse and check ``text``; raise :class:`FormulaError` on anything not allowed."""
    source = text.strip()
    if not source:
        raise FormulaError("formule vide")
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"formule trop longue ({len(source)} caractères, {MAX_LENGTH} au plus)")
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        column = (exc.offset or 1) - 1
        raise FormulaError(
            f"formule « {source} » illisible près du caractère {column + 1} : vérifiez les "
            "parenthèses et les opérateurs (+ - * /)"
        ) from None
    codes: set[str] = set()
    _check(tree, source, codes)
    return Formula(text=source, tree=tree, codes=frozenset(codes))


def _check(node: ast.AST, source: str, codes: set[str]) -> None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        _check(node.left, source, codes)
        _check(node.right, source, codes)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, source, codes)
    elif (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        if not math.isfinite(float(node.value)):
            raise FormulaError(f"nombre non fini dans « {source} »")
    elif isinstance(node, ast.Name):
        if not CODE.match(node.id):
            raise FormulaError(
                f"« {node.id} » n'est pas un code d'indicateur valide (minuscules, chiffres, _)"
            )
        codes.add(node.id)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise FormulaError(
                f"fonction non autorisée dans « {source} » : seules min(), max() et abs() le sont"
            )
        if not node.args or (node.func.id == "abs" and len(node.args) != 1):
            raise FormulaError(f"nombre d'arguments incorrect pour {node.func.id}() dans « {source} »")
        for arg in node.args:
            _check(arg, source, codes)
    else:
        fragment = ast.get_source_segment(source, node) or type(node).__name__
        raise FormulaError(
            f"« {fragment} » n'est pas autorisé dans une formule : seuls les nombres, les codes "
            "d'indicateurs, + - * /, les parenthèses et min/max/abs le sont"
        )


def evaluation_order(formulas: Mapping[str, Formula], known: Iterable[str]) -> list[str]:
    """The computed codes, each after the ones it reads.

    Raises :class:`FormulaError` on an unknown code (naming the formula that uses it) or a
    cycle (naming its codes in order).
    """
    available = set(known) | set(formulas)
    for code, formula in formulas.items():
        unknown = sorted(formula.codes - available)
        if unknown:
            raise FormulaError(f"l'indicateur « {code} » utilise un code inconnu : {', '.join(unknown)}")
    sorter = TopologicalSorter({code: f.codes & set(formulas) for code, f in formulas.items()})
    try:
        return list(sorter.static_order())
    except CycleError as exc:
        cycle = exc.args[1]
        raise FormulaError(f"formules circulaires : {' → '.join(cycle)}") from None


def evaluate(formula: Formula, values: Mapping[str, Any]) -> Any:
    """Evaluate on scalars, numpy arrays or aligned pandas Series (vectorised).

    A division by zero gives NaN, never an infinite value.
    """

    def walk(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            args = [walk(a) for a in node.args]
            result = args[0]
            if name == "abs":
                return np.abs(result)
            for arg in args[1:]:
                result = FUNCTIONS[name](result, arg)
            return result
        if not isinstance(node, ast.BinOp):  # pragma: no cover - parse_formula allows nothing else
            raise FormulaError(f"expression inattendue dans « {formula.text} »")
        left, right = walk(node.left), walk(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if isinstance(left, pd.Series) or isinstance(right, pd.Series):
                return (left / right).replace([np.inf, -np.inf], np.nan)
            if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
                quotient = np.divide(left, right)
                return np.where(np.isinf(quotient), np.nan, quotient)
            if right == 0:
                return math.nan
            return left / right

    return walk(formula.tree)


# -- units ----------------------------------------------------------------------------------
def infer_unit(formula: Formula, units: Mapping[str, str]) -> str | None:
    """The unit the formula yields from its operands' units, or None when it cannot tell.

    Raises :class:`FormulaError` when it adds or subtracts quantities of different units
    (``EUR + repas``). Units are compared as written; ``%`` and numbers are dimensionless.
    """

    def walk(node: ast.expr) -> tuple[dict[str, int], bool]:
        # (unit as {symbol: power}, known?)
        if isinstance(node, ast.Constant):
            return {}, True
        if isinstance(node, ast.Name):
            unit = units.get(node.id)
            if unit is None:
                return {}, False
            return _parse_unit(unit), True
        if isinstance(node, ast.UnaryOp):
            return walk(node.operand)
        if isinstance(node, ast.Call):
            parts = [walk(a) for a in node.args]
            return _same(parts, formula.text, "min/max")
        if not isinstance(node, ast.BinOp):  # pragma: no cover - parse_formula allows nothing else
            return {}, False
        left, right = walk(node.left), walk(node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return _same([left, right], formula.text, "+/-")
        if not (left[1] and right[1]):
            return {}, False
        sign = 1 if isinstance(node.op, ast.Mult) else -1
        combined = dict(left[0])
        for symbol, power in right[0].items():
            combined[symbol] = combined.get(symbol, 0) + sign * power
        return {s: p for s, p in combined.items() if p}, True

    unit, known = walk(formula.tree)
    return _format_unit(unit) if known else None


def _same(parts: list[tuple[dict[str, int], bool]], text: str, op: str) -> tuple[dict[str, int], bool]:
    known = [p[0] for p in parts if p[1]]
    if any(u != known[0] for u in known[1:]):
        shown = " et ".join(_format_unit(u) or "sans unité" for u in known)
        raise FormulaError(f"unités incompatibles dans « {text} » ({op} entre {shown})")
    return (known[0] if known else {}), len(known) == len(parts)


def _parse_unit(unit: str) -> dict[str, int]:
    text = unit.strip()
    if text in ("", "%", "nombre", "ratio"):
        return {}
    numerator, _, denominator = text.partition("/")
    result: dict[str, int] = {}
    if numerator.strip():
        result[numerator.strip()] = 1
    if denominator.strip():
        result[denominator.strip()] = result.get(denominator.strip(), 0) - 1
    return {s: p for s, p in result.items() if p}


def _format_unit(unit: dict[str, int]) -> str:
    top = [s if p == 1 else f"{s}^{p}" for s, p in sorted(unit.items()) if p > 0]
    bottom = [s if p == -1 else f"{s}^{-p}" for s, p in sorted(unit.items()) if p < 0]
    text = "·".join(top) or ("1" if bottom else "")
    return f"{text}/{'·'.join(bottom)}" if bottom else text


def units_agree(declared: str, inferred: str | None) -> bool:
    """Whether a declared unit matches the inferred one (unknown inferred: nothing to say)."""
    if inferred is None:
        return True
    return _parse_unit(declared) == _parse_unit(inferred)
