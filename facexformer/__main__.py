"""``python -m facexformer`` = the ``facexformer`` command."""

import sys

from facexformer.apps.cli import console_main

sys.exit(console_main())
