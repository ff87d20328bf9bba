"""Run chaosbench from a checkout: ``python cli.py ...`` does what the ``chaosbench`` command does."""

import sys

from chaosbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
