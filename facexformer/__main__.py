"""``python -m facexformer`` = the ``facexformer`` command."""

from facexformer.cli import main

main()
