"""``python -m fortifai ...``: the command line of :mod:`fortifai.cli` (``fortifai run | list | recursive | sweep``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
