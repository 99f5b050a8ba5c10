"""``pilotis optimize FILE``: solve a problem file without a database (and without Flask).

Imported by the fast entry point (:mod:`pilotis.main`) without the web application: it must not
import Flask, SQLAlchemy, the models or the services that need them.
"""

from __future__ import annotations

import click

from pilotis.errors import PilotisError


@click.command(
    help="Résout un problème d'arbitrage budgétaire (fichier JSON ou classeur Excel documenté, voir "
    "docs/optimizer.md) et affiche la solution expliquée ; aucune base de données n'est nécessaire."
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--json", "as_json", is_flag=True, help="Solution et explication en JSON.")
@click.option("--solver", type=click.Choice(["highs", "cbc"]), default="highs", show_default=True)
@click.option(
    "--time-limit",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Secondes pour toute la commande (résolution et explication).",
)
@click.option(
    "--mip-gap",
    type=click.FloatRange(0, 1),
    default=0.01,
    show_default=True,
    help="Écart relatif à l'optimum auquel la recherche en nombres entiers s'arrête (0,01 = 1 %).",
)
def optimize(path: str, as_json: bool, solver: str, time_limit: float, mip_gap: float) -> None:
    import time

    from optimizer import explain, solve
    from services.problem_files import (
        ProblemFileError,
        format_solution_text,
        read_problem_file,
        solution_to_dict,
    )

    deadline = time.perf_counter() + time_limit
    try:
        problem = read_problem_file(path)
    except ProblemFileError as exc:
        for message in exc.messages:
            click.echo(f"  {message}", err=True)
        raise PilotisError(f"{len(exc.messages)} erreur(s) dans {path} : rien n'a été résolu.") from exc
    remaining = max(0.1, deadline - time.perf_counter())
    # the solve takes most of the time; the explanation what is left (re-solves are warm LPs)
    solution = solve(problem, solver=solver, time_limit=remaining * 0.8, mip_gap=mip_gap)  # type: ignore[arg-type]
    explanation = explain(
        problem,
        solution,
        solver=solver,  # type: ignore[arg-type]
        time_limit=remaining,
        mip_gap=mip_gap,
        deadline=deadline,
    )
    if as_json:
        _echo_json(solution_to_dict(problem, solution, explanation))
    else:
        click.echo(format_solution_text(problem, solution, explanation))
    if not solution.has_values:
        raise SystemExit(2)


def _echo_json(document: object) -> None:
    """Print ``document`` as ``json.dumps(document, ensure_ascii=False, indent=2)`` would, in
    pieces: the large problem's solution is 64 MB of text, never held whole (nor its pieces)."""
    import json

    pieces: list[str] = []
    for piece in json.JSONEncoder(ensure_ascii=False, indent=2).iterencode(document):
        pieces.append(piece)
        if len(pieces) >= 8192:
            click.echo("".join(pieces), nl=False)
            pieces.clear()
    click.echo("".join(pieces))
