"""``python -m pilotis`` is the ``pilotis`` command."""

from pilotis.main import main

main()
