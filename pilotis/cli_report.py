"""Command-line commands of the ABS report and of the benchmark."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("report", cls=AppGroup, help="Rapport d'analyse des besoins sociaux (ABS).")
def report() -> None:
    """A group: its sub-commands do the work."""


@report.command(
    "abs",
    help=(
        "Produit le rapport ABS d'une année : diagnostic complet, ou analyse thématique d'un public "
        "(--theme CODE), en PDF, HTML, Word (docx, à compléter) ou annexe Excel."
    ),
)
@click.option("--year", "year", type=click.IntRange(2000, 2200), required=True, help="Année du rapport.")
@click.option("--theme", default=None, help="Code du public de l'analyse thématique (ex. personnes_agees).")
@click.option(
    "--format", "fmt", type=click.Choice(["pdf", "html", "docx", "xlsx"]), default="pdf", show_default=True
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option("--organisation", "slug", default=None, help="Organisation (son identifiant court).")
def report_abs(year: int, theme: str | None, fmt: str, output: str | None, slug: str | None) -> None:
    from flask import current_app

    from models.base import utcnow
    from pilotis import schema
    from pilotis.cli import find_organisation
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.abs_calendar import abs_calendar
    from services.abs_exports import annex_workbook
    from services.abs_report import ReportError, build_report
    from services.abs_word import word_document
    from views.report import pdf_bytes, render_document, stylesheet

    schema.require_current_schema(engine())
    kind = "theme" if theme else "full"
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        try:
            built = build_report(session, organisation.id, year=year, kind=kind, theme=theme)
        except ReportError as exc:
            raise PilotisError(str(exc).rstrip(".") + ".") from exc
        calendar = abs_calendar(utcnow().date())
        default = f"abs-{year}-{theme}" if theme else f"abs-{year}"
        path = output or f"{default}.{fmt}"
        if fmt == "xlsx":
            content = annex_workbook(built)
        elif fmt == "docx":
            content = word_document(built, calendar=calendar)
        else:
            with current_app.test_request_context("/abs"):
                if fmt == "pdf":
                    content = pdf_bytes(built, calendar=calendar)
                else:
                    css = stylesheet().read_text(encoding="utf-8")
                    content = render_document(built, calendar=calendar, inline_css=css).encode("utf-8")
    try:
        with open(path, "wb") as handle:
            handle.write(content)
    except OSError as exc:
        raise PilotisError(f"impossible d'écrire {path} : {exc.strerror}.") from exc
    click.echo(f"{built.title} ({built.organisation_name}) écrit dans {path}.")


@click.group("benchmark", cls=AppGroup, help="Comparaison entre organisations sur les indicateurs standard.")
def benchmark() -> None:
    """A group: its sub-commands do the work."""


# -- benchmark (comparison between organisations) ------------------------------------------------------
@benchmark.command("show", help="Affiche la comparaison d'une organisation avec les autres (JSON ou Excel).")
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx"]), default="json", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Fichier de sortie (par défaut : la sortie standard pour JSON, comparaison-ORGANISATION.xlsx).",
)
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
def benchmark_show(fmt: str, output: str | None, slug: str | None) -> None:
    import json
    from pathlib import Path

    from flask import current_app

    from pilotis import schema
    from pilotis.cli import find_organisation
    from pilotis.database import write_session
    from pilotis.web import engine
    from services.benchmark import benchmark_json, benchmark_workbook, build_benchmark

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        view = build_benchmark(session, organisation.id, instance_path=Path(current_app.instance_path))
        if fmt == "json":
            text = json.dumps(benchmark_json(view), ensure_ascii=False, indent=2)
            if output:
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
                click.echo(f"Comparaison de {organisation.name} écrite dans {output}.", err=True)
            else:
                click.echo(text)
            return
        path = output or f"comparaison-{organisation.slug}.xlsx"
        with open(path, "wb") as handle:
            handle.write(benchmark_workbook(view))
        click.echo(
            f"Comparaison de {organisation.name} écrite dans {path} "
            f"({view.comparable_count} indicateur(s) comparable(s))."
        )


@benchmark.command(
    "import",
    help=(
        "Importe un référentiel anonymisé (CSV : organisation;strate;indicateur;valeur;annee), tout ou "
        "rien ; il est copié dans le dossier d'instance (benchmark/) et compté dans toutes les comparaisons."
    ),
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
def benchmark_import(path: str) -> None:
    from pathlib import Path

    from flask import current_app

    from pilotis.errors import PilotisError
    from services.benchmark import BenchmarkError, import_reference

    source = Path(path)
    try:
        result = import_reference(Path(current_app.instance_path), source.read_bytes(), source.name)
    except BenchmarkError as exc:
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise PilotisError(
            f"{len(exc.problems)} erreur(s) dans {source.name} : rien n'a été importé."
        ) from exc
    state = "inchangé (même contenu)" if result.unchanged else ("remplacé" if result.replaced else "ajouté")
    click.echo(
        f"Référentiel {result.path.name} {state} : {result.organisations} organisation(s) anonyme(s), "
        f"{result.values} valeur(s) ; enregistré dans {result.path.parent}."
    )
