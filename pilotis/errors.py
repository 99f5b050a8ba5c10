"""Errors the shell reports to a person in one French line, without a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import IO, Any

import click

from scorecard.errors import UserError


class PilotisError(click.ClickException):
    """A failure the user can act on; printed as ``Erreur : …`` and exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Erreur : {self.format_message()}", file=file or sys.stderr)


def report_user_errors(command: click.Command) -> click.Command:
    """The one CLI wrapper: a :class:`~scorecard.errors.UserError` raised by ``command`` (or by
    any command of the group, recursively) becomes ``Erreur : …`` and exit status 1."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            report_user_errors(sub)
    callback = command.callback
    if callback is not None and not getattr(callback, "_reports_user_errors", False):
        command.callback = _reporting(callback)
    return command


def _reporting(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except UserError as exc:
            raise PilotisError(str(exc)) from exc

    run._reports_user_errors = True  # type: ignore[attr-defined]
    return run
