"""``python -m slimwheel``: the same as the ``slimwheel`` command (:func:`slimwheel.cli.main`), its exit code too."""

import sys

from .cli import main

sys.exit(main())
