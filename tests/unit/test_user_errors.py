"""The one user-error type: located problems, one message, and every error class built on it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from optimizer import ProblemError
from scorecard.errors import ConflictError, Located, UserError
from services.budget_files import BudgetFileError
from services.problem_files import ProblemFileError

ROOT = Path(__file__).resolve().parents[2]
#: A line that may define an error class (the files without one are not parsed).
ERROR_CLASS = re.compile(r"^\s*class \w+Error\b", re.MULTILINE)
LAYERS = ("pilotis", "models", "services", "scorecard", "optimizer", "views", "jobs")


def test_a_problem_says_where_it_is_before_what_it_is() -> None:
    assert str(Located("Budget", 12, "Montant", "montant illisible")) == (
        "feuille « Budget », ligne 12, colonne « Montant » : montant illisible"
    )
    assert str(Located("Budget", 3, "", "ligne vide")) == "feuille « Budget », ligne 3 : ligne vide"
    assert str(Located.at_field("Cible", "nombre attendu")) == "champ « Cible » : nombre attendu"
    assert str(Located.plain("fichier vide")) == "fichier vide"


def test_one_problem_is_the_message_and_many_are_listed_then_counted() -> None:
    assert str(UserError("trop tard")) == "trop tard"
    assert UserError("trop tard").messages == ["trop tard"]
    one = UserError(problems=[Located("F", 2, "A", "vide")])
    assert str(one) == "feuille « F », ligne 2, colonne « A » : vide"
    many = UserError(problems=[f"erreur {i}" for i in range(53)])
    text = str(many)
    assert text.startswith("53 erreur(s) :\n- erreur 0\n")
    assert "- erreur 49\n… et 3 autres erreurs" in text
    assert "erreur 50" not in text
    assert len(many.messages) == 53


def test_status_is_400_unless_a_newer_version_was_met() -> None:
    assert UserError("x").status == 400
    assert ConflictError("x").status == 409
    assert UserError("x", status=413).status == 413


def test_the_capabilities_errors_keep_their_located_messages() -> None:
    budget = BudgetFileError(["ligne 3 : montant illisible", "ligne 9 : nature inconnue"])
    assert budget.messages == ["ligne 3 : montant illisible", "ligne 9 : nature inconnue"]
    problem = ProblemError(["besoins[0] : taille négative"])
    assert str(problem).startswith("problème invalide (1 erreur(s)) :\n- besoins[0] : taille négative")
    file_error = ProblemFileError(["p.json : vide"])
    assert isinstance(file_error, ProblemError)
    assert str(file_error).startswith("fichier de problème refusé (1 erreur(s))")


def test_every_error_class_of_the_code_is_a_user_error() -> None:
    """A new ``class XError(ValueError)`` would be caught by no handler: it must derive from the one
    type (directly or through a capability's error)."""
    found: dict[str, list[str]] = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            if not ERROR_CLASS.search(source):
                continue
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                    found[f"{path.relative_to(ROOT)}:{node.name}"] = [ast.unparse(b) for b in node.bases]
    allowed = {"UserError", "ConflictError", "click.ClickException"}
    found.pop("scorecard/errors.py:UserError")  # the one type itself
    names = {key.rsplit(":", 1)[1] for key in found}
    wrong = {key: bases for key, bases in found.items() if not all(b in allowed or b in names for b in bases)}
    assert not wrong, f"classes d'erreur hors du type unique : {wrong}"
    assert len(found) >= 20


def test_the_cli_says_erreur_and_exits_1_for_any_command_of_a_group() -> None:
    import click
    from click.testing import CliRunner

    from pilotis.errors import report_user_errors

    @click.group()
    def group() -> None:
        """A group."""

    @group.command()
    def refuse() -> None:
        raise UserError(problems=[Located("Mesures", 7, "Valeur", "nombre attendu")])

    result = CliRunner().invoke(report_user_errors(group), ["refuse"])
    assert result.exit_code == 1
    assert result.output == "Erreur : feuille « Mesures », ligne 7, colonne « Valeur » : nombre attendu\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)
