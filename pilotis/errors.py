"""Errors the shell reports to a person in one French line, without a traceback."""

from __future__ import annotations

import sys
from typing import IO, Any

import click


class PilotisError(click.ClickException):
    """A failure the user can act on; printed as ``Erreur : …`` and exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Erreur : {self.format_message()}", file=file or sys.stderr)
