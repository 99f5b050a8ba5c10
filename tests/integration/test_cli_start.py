"""The ``pilotis`` entry point answers ``--help`` and ``optimize`` without the application, and
lists exactly the commands the full group has (no timing here: ``bench/cli_start.py`` times it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from optimizer import generate_problem
from pilotis.cli import main as full
from pilotis.main import COMMANDS, FAST, help_text, main
from services.problem_files import write_problem_json


def _commands_section(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Commands:")
    return [line for line in lines[start + 1 :] if line.strip()]


def test_the_fast_help_lists_the_full_groups_commands_as_it_does(app) -> None:
    result = CliRunner().invoke(full, ["--help"], prog_name="pilotis", terminal_width=100)
    assert result.exit_code == 0, result.output
    assert _commands_section(help_text(width=100)) == _commands_section(result.output)
    assert set(FAST) <= set(COMMANDS)


def test_optimize_and_help_start_without_flask_nor_the_database(tmp_path: Path) -> None:
    path = tmp_path / "probleme.json"
    write_problem_json(generate_problem(5, 10, 2, seed=4), path)
    script = (
        "import sys, json\n"
        "from pilotis.main import main\n"
        "main(['--help'])\n"
        "try:\n"
        f"    main(['optimize', '--json', {str(path)!r}])\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "heavy = sorted(m for m in ('flask', 'sqlalchemy', 'pandas', 'openpyxl', 'models', 'services.scenarios')"
        " if m in sys.modules)\n"
        "print(json.dumps(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.strip().splitlines()
    assert json.loads(out[-1]) == [], out[-1]  # none of the application's heavy modules was imported
    assert "Commands:" in done.stdout and '"status": "optimal"' in done.stdout


def test_other_commands_go_through_the_full_group(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(click.Group, "main", lambda self, args, **kw: seen.append(list(args)))
    main(["users", "--help"])
    assert seen == [["users", "--help"]]
