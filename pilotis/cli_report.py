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
@click.option(
    "--indicateur",
    "code",
    default=None,
    help="Avec --page : une page des valeurs par organisation de cet indicateur (JSON), s'il est comparable.",
)
@click.option("--page", "page", type=click.IntRange(1), default=None, help="Numéro de la page (50 valeurs).")
def benchmark_show(
    fmt: str, output: str | None, slug: str | None, code: str | None, page: int | None
) -> None:
    import json
    from pathlib import Path

    from flask import current_app

    from pilotis import schema
    from pilotis.cli import find_organisation
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.benchmark import (
        benchmark_json,
        benchmark_workbook,
        build_benchmark,
        values_page,
        values_page_json,
    )

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        if code is not None or page is not None:
            if code is None or fmt != "json":
                raise PilotisError("--page va avec --indicateur CODE, en JSON.")
            shown = values_page(
                session, organisation.id, code, page=page or 1, instance_path=Path(current_app.instance_path)
            )
            if shown is None:
                raise PilotisError(
                    f"{code} : comparaison impossible (moins de 3 organisations) ou code inconnu."
                )
            click.echo(json.dumps(values_page_json(shown), ensure_ascii=False, indent=2))
            return
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
@click.option(
    "--correspondance",
    "mapping_name",
    default=None,
    help="Nom d'une correspondance de colonnes enregistrée (pilotis benchmark mapping) : le fichier a une ligne par organisation.",
)
def benchmark_import(path: str, mapping_name: str | None) -> None:
    from pathlib import Path

    from flask import current_app

    from pilotis.errors import PilotisError
    from services.benchmark import BenchmarkError, find_mapping, import_mapped, import_reference

    source = Path(path)
    instance = Path(current_app.instance_path)
    try:
        if mapping_name:
            result = import_mapped(
                instance, source.read_bytes(), source.name, find_mapping(instance, mapping_name)
            )
        else:
            result = import_reference(instance, source.read_bytes(), source.name)
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


@benchmark.command(
    "mapping",
    help=(
        "Enregistre une correspondance de colonnes pour importer un fichier d'une ligne par organisation "
        "(ex. les comptes des CCAS en données ouvertes) : pilotis benchmark import FICHIER --correspondance NOM."
    ),
)
@click.argument("name")
@click.option("--organisation", "organisation", required=True, help="Colonne du code de l'organisation.")
@click.option("--strate", "stratum", default=None, help="Colonne de la strate (0-5k, 5-20k…).")
@click.option("--population", "population", default=None, help="Ou colonne de la population.")
@click.option("--annee", "year", default=None, help="Colonne de l'année.")
@click.option("--annee-fixe", "fixed_year", type=int, default=None, help="Ou l'année de tout le fichier.")
@click.option("--indicateur", "indicators", multiple=True, required=True, help="code=colonne (répétable).")
def benchmark_mapping(
    name: str,
    organisation: str,
    stratum: str | None,
    population: str | None,
    year: str | None,
    fixed_year: int | None,
    indicators: tuple[str, ...],
) -> None:
    from pathlib import Path

    from flask import current_app

    from pilotis.errors import PilotisError
    from services.benchmark import BenchmarkError, ReferenceMapping, parse_mapping_lines, save_mapping

    try:
        mapping = ReferenceMapping(
            name=name,
            organisation=organisation,
            indicators=parse_mapping_lines("\n".join(indicators)),
            stratum=stratum,
            population=population,
            year=year,
            fixed_year=fixed_year,
        )
        path = save_mapping(Path(current_app.instance_path), mapping)
    except BenchmarkError as exc:
        raise PilotisError(" ; ".join(exc.messages) + ".") from exc
    click.echo(
        f"Correspondance « {name} » enregistrée ({len(mapping.indicators)} indicateur(s)) dans {path}."
    )


@benchmark.command(
    "refresh",
    help="Calcule et enregistre les indicateurs standard des organisations dont les données ont changé (ou toutes : --tout).",
)
@click.option("--tout", "everything", is_flag=True, help="Toutes les organisations, même à jour.")
def benchmark_refresh(everything: bool) -> None:
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.web import engine
    from services.benchmark import refresh_all

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        done = refresh_all(session, only_stale=not everything)
    click.echo(f"{done} organisation(s) recalculée(s).")
