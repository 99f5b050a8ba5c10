"""The ``pilotis`` command's entry point: fast where no application is needed.

``pilotis --help`` and ``pilotis optimize FILE`` need neither the web application nor the
database: building the Flask application and importing SQLAlchemy, the models and the services
costs seconds on this machine, more than solving a medium problem. They are answered here without
it; every other command goes to the full command group (:data:`pilotis.cli.main`).

:data:`COMMANDS` is the list ``pilotis --help`` shows; ``tests/integration/test_cli_start.py``
checks that it is the full group's, command by command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

DESCRIPTION = (
    "Pilotis : pilotage de l'action sociale locale. La base de données est DATABASE_URL, "
    "ou à défaut SQLite dans instance/pilotis.db."
)

#: Each command and the help ``pilotis --help`` gives for it (the first sentence of its own help).
COMMANDS: dict[str, str] = {
    "benchmark": "Comparaison entre organisations sur les indicateurs standard.",
    "coherence": "Cohérence de l'offre et des besoins (JSON ou classeur Excel).",
    "cost-driver": "Modifie la quantité d'inducteur d'une activité dans un centre de coût.",
    "costs": "Coûts complets des activités, flux et exécution budgétaire d'une année (JSON ou Excel).",
    "db": "Schéma de la base de données (migrations Alembic).",
    "demo": "Crée ou rafraîchit l'organisation de démonstration, à partir des statistiques réelles d'une commune.",
    "import": "Imports de fichiers (tout ou rien).",
    "jobs": "Tâches planifiées : liste et lancement immédiat.",
    "model": "Modèle de l'organisation : tout le modèle dans un classeur Excel.",
    "optimize": "Résout un problème d'arbitrage budgétaire (fichier JSON ou classeur Excel documenté, voir "
    "docs/optimizer.md) et affiche la solution expliquée ; aucune base de données n'est nécessaire.",
    "org": "Organisations du serveur : création pour tout territoire français, liste, catalogue de départ.",
    "report": "Rapport d'analyse des besoins sociaux (ABS).",
    "routes": "Show the routes for the app.",
    "run": "Run a development server.",
    "scenario": "Scénarios d'arbitrage budgétaire.",
    "scheduler": "Démarre le planificateur des tâches (un seul processus, à part des serveurs web).",
    "scorecard": "Calcule le tableau de bord d'une période (JSON ou classeur Excel).",
    "serve": "Démarre le serveur web (waitress) sur une base à jour.",
    "shell": "Run a shell in the app context.",
    "survey": "Enquêtes et consultations des habitants.",
    "users": "Comptes des utilisateurs.",
    "worker": "Exécute les tâches de fond (calculs de scénarios, rapports PDF et Word, tâches planifiées par "
    "organisation) : autant de processus que voulu, sur une ou plusieurs machines.",
}

#: Commands answered without the application: name -> "module:attribute".
FAST: dict[str, str] = {"optimize": "pilotis.cli_optimize:optimize"}


def help_text(width: int | None = None) -> str:
    """``pilotis --help``, formatted as Click formats the full group's (``width``: the terminal's)."""
    formatter = click.HelpFormatter(width=width)
    formatter.write_usage("pilotis", "[OPTIONS] COMMAND [ARGS]...")
    formatter.write_paragraph()
    with formatter.indentation():
        formatter.write_text(DESCRIPTION)
    with formatter.section("Options"):
        formatter.write_dl(
            [
                ("-e, --env-file FILE", "Variables d'environnement lues dans ce fichier."),
                ("-A, --app IMPORT", "Application Flask à charger (module:nom)."),
                ("--debug / --no-debug", "Mode débogage."),
                ("--version", "Versions de Python et de Flask."),
                ("--help", "Affiche cette aide."),
            ]
        )
    width = max(len(name) for name in COMMANDS)
    limit = formatter.width - 6 - width
    rows = [
        (name, click.Command(name, help=text).get_short_help_str(limit))
        for name, text in sorted(COMMANDS.items())
    ]
    with formatter.section("Commands"):
        formatter.write_dl(rows)
    return formatter.getvalue()


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``pilotis ARGS``: the fast answers here, everything else through the full group."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in ([], ["--help"]):
        click.echo(help_text(), nl=False)
        return
    if args[0] in FAST:
        module, _, attribute = FAST[args[0]].partition(":")
        from pilotis.errors import report_user_errors

        command: click.Command = report_user_errors(
            getattr(__import__(module, fromlist=[attribute]), attribute)
        )
        command.main(args[1:], prog_name=f"pilotis {args[0]}")
        return
    from pilotis.cli import main as full

    full.main(args, prog_name="pilotis")
