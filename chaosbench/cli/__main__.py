"""``python -m chaosbench.cli``."""

import sys

from . import main

sys.exit(main())
