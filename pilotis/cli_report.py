"""Command-line commands of the ABS report and of the benchmark."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("report", cls=AppGroup, help="Rapport d'analyse des besoins sociaux (ABS).")
def report() -> None:
    """A group: its sub-commands do the work."""


@click.group("benchmark", cls=AppGroup, help="Comparaison entre organisations sur les indicateurs standard.")
def benchmark() -> None:
    """A group: its sub-commands do the work."""
