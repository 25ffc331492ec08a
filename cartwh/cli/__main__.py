"""`python -m cartwh.cli`: the `cartwh` command (how `cartwh run` starts the run's own process)."""

import sys

from cartwh.cli.parser import main

sys.exit(main())
