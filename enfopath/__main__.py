"""``python -m enfopath``: the command line of :mod:`enfopath.cli` (``enfopath kpe``)."""

import sys

from enfopath.cli import main

sys.exit(main())
