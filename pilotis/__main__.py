"""``python -m pilotis`` is the ``pilotis`` command."""

from pilotis.cli import main

main()
