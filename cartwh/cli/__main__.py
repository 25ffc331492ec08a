"""`python -m cartwh.cli`: the `cartwh` command (how `cartwh run` starts the run's own process)."""

import atexit
import os
import sys

from cartwh.cli.parser import main

code = main()
# The process ends here. Its exit functions run (log handlers flushed, temporary folders removed);
# the interpreter's own teardown is skipped: it would search the millions of objects a night leaves
# (the code location, dbt's manifest, the marts' frames) for cycles, about 2 s for nothing, since
# every file and connection was closed by the code that opened it.
sys.stdout.flush()
sys.stderr.flush()
atexit._run_exitfuncs()
os._exit(code or 0)
