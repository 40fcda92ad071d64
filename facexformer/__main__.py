"""``python -m facexformer`` = the ``facexformer`` command."""

from facexformer.apps.cli import main

main()
