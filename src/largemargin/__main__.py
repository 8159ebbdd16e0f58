"""``python -m largemargin``: the same command as ``largemargin``."""

import sys

from largemargin.cli.main import main

sys.exit(main())
