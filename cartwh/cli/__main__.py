"""`python -m cartwh.cli`: the `cartwh` command (how `cartwh run` starts the run's own process)."""

import gc
import sys

from cartwh.cli.parser import main

code = main()
# A night leaves millions of objects behind (the code location, dbt's manifest, the marts' frames),
# which the interpreter's exit would search for cycles to collect, about 2 s for nothing: every file
# and connection was closed by the code that opened it, and the process ends here.
gc.freeze()
sys.exit(code)
