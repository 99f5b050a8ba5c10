"""``pilotis users create|list|deactivate|set-password``."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def cli(make_app, demo_database_url):
    """The command line on a database of its own where ``pilotis demo`` has run."""
    return make_app(demo_database_url).test_cli_runner()


def test_create_list_set_password_and_deactivate(cli):
    created = cli.invoke(
        args=[
            "users",
            "create",
            "Agent@Carcassonne.pilotis.example",
            "--name",
            "Agent Accueil",
            "--role",
            "service_manager",
            "--organisation",
            "demo-11069",
            "--service",
            "SOLIDARITE",
        ]
    )
    assert created.exit_code == 0, created.output
    assert re.search(r"Mot de passe temporaire .* : [a-z2-9]{4}(-[a-z2-9]{4}){3}", created.output)
    listing = cli.invoke(args=["users", "list", "--organisation", "demo-11069"]).output
    assert "agent@carcassonne.pilotis.example" in listing and "[SOLIDARITE]" in listing
    changed = cli.invoke(
        args=["users", "set-password", "agent@carcassonne.pilotis.example"],
        input="une phrase de passe solide\nune phrase de passe solide\n",
    )
    assert changed.exit_code == 0 and "modifié" in changed.output
    weak = cli.invoke(
        args=["users", "set-password", "agent@carcassonne.pilotis.example"],
        input="motdepasse123\nmotdepasse123\n",
    )
    assert weak.exit_code == 1 and "plus courants" in weak.output
    temporary = cli.invoke(args=["users", "set-password", "agent@carcassonne.pilotis.example", "--temporary"])
    assert "Mot de passe temporaire" in temporary.output
    assert cli.invoke(args=["users", "deactivate", "agent@carcassonne.pilotis.example"]).exit_code == 0
    assert "désactivé" in cli.invoke(args=["users", "list"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["users", "create", "x@y.fr", "--name", "X", "--role", "reader", "--organisation", "nope"],
            "organisation « nope » inconnue",
        ),
        (
            [
                "users",
                "create",
                "x@y.fr",
                "--name",
                "X",
                "--role",
                "service_manager",
                "--organisation",
                "demo-11069",
            ],
            "au moins un service",
        ),
        (
            [
                "users",
                "create",
                "x@y.fr",
                "--name",
                "X",
                "--role",
                "service_manager",
                "--organisation",
                "demo-11069",
                "--service",
                "ZZZ",
            ],
            "service « ZZZ » inconnu",
        ),
        (
            [
                "users",
                "create",
                "direction@carcassonne.pilotis.example",
                "--name",
                "X",
                "--role",
                "reader",
                "--organisation",
                "demo-11069",
            ],
            "existe déjà",
        ),
        (["users", "deactivate", "personne@nulle.part"], "aucun compte"),
    ],
)
def test_bad_input_is_refused_in_one_french_line(cli, args, message):
    result = cli.invoke(args=args)
    assert result.exit_code == 1
    assert result.output.startswith("Erreur : ") and message in result.output
