"""What can I do from the command line? The `cartwh` command: one module per command (`generate`,
`ingest`, `run`, `pull`, `sql`, `rebuild`, `status`), each with its help, its arguments and what
runs it (`handle`); `parser` builds the parser, and `main` hands the command line to its command.
A command imports its heavy work only when it runs, so `cartwh sql` starts without the generator,
Dagster or the pseudonym code. The one part of cartwh/ above the code location: `cartwh run` runs
the main job (orchestration.run), as `dagster` would.
"""

from cartwh.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
