"""The one user-error type: what a person did that Pilotis refuses, in French, with where.

Every layer raises :class:`UserError` (or a subclass named after its capability) for input a
person can correct: a form field, a cell of a workbook, a line of a CSV file, a command's
option. It carries the located problems (:class:`Located`: sheet, row, column or field) and the
HTTP status it deserves (400, or 409 for a write that met a newer version). One Flask handler
(``views/errors.py``) turns an uncaught one into the French page (or JSON under ``/api``) with
that status, and one CLI wrapper (``pilotis/main.py``) into ``Erreur : …`` and exit status 1.

Pure: imported by the cores (scorecard, optimizer) as well as by the services and the shell.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: How many problems a message lists before « … et N autres erreurs ».
SHOWN_PROBLEMS = 50


@dataclass(frozen=True)
class Located:
    """One thing wrong, and where: a workbook's sheet, row and column, a file's line, or a form's
    field (``Located(sheet, row, column, message)``; :meth:`plain` and :meth:`at_field` for the
    others)."""

    sheet: str | None
    row: int | None
    column: str | None
    message: str
    field: str | None = None

    @classmethod
    def plain(cls, message: str) -> Located:
        return cls(None, None, None, message)

    @classmethod
    def at_field(cls, field: str, message: str) -> Located:
        return cls(None, None, None, message, field)

    @property
    def where(self) -> str:
        """« feuille « Budget », ligne 12, colonne « Montant » », « ligne 12 », « champ « Cible » »…"""
        parts = []
        if self.sheet:
            parts.append(f"feuille « {self.sheet} »")
        if self.row is not None:
            parts.append(f"ligne {self.row}")
        if self.column:
            parts.append(f"colonne « {self.column} »")
        if self.field:
            parts.append(f"champ « {self.field} »")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.where} : {self.message}" if self.where else self.message


class UserError(ValueError):
    """Input refused as a whole, with every problem found; nothing was written.

    ``UserError("message")`` for one problem without a place; ``UserError(problems=[...])`` for
    located ones (strings are problems without a place); both for a headline over the list.
    """

    #: The HTTP status a view answers with when it does not catch the error itself.
    status: int = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: Iterable[Located | str] = (),
        status: int | None = None,
    ) -> None:
        self.problems: list[Located] = [p if isinstance(p, Located) else Located.plain(p) for p in problems]
        if status is not None:
            self.status = status
        if message is None:
            message = summarise(self.problems)
        elif not self.problems:
            self.problems = [Located.plain(message)]
        super().__init__(message)

    @property
    def messages(self) -> list[str]:
        """Each problem as one French line, its place first."""
        return [str(p) for p in self.problems]


class ConflictError(UserError):
    """A write based on a version someone else has changed since (HTTP 409)."""

    status = 409


def summarise(problems: list[Located], headline: str | None = None) -> str:
    """One message for a list of problems: the one alone, or the first 50 and how many more."""
    if not problems:
        return headline or "saisie refusée"
    if len(problems) == 1 and headline is None:
        return str(problems[0])
    shown = "\n".join(f"- {p}" for p in problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    tail = f"\n… et {more} autres erreurs" if more > 0 else ""
    return f"{headline or f'{len(problems)} erreur(s)'} :\n{shown}{tail}"
