"""`cartwh sql`: read-only SQL on the published copy, one query or an interactive session (cartwh.sql)."""

from __future__ import annotations

import argparse
import sys

import duckdb

from cartwh import settings
from cartwh.sql.guard import FORMATS, INTERRUPTED, OUT_OF_MEMORY, QueryStopped, ReadOnlyRefusal, cap_process_memory
from cartwh.sql.shell import run_sql, shell

HELP = "read-only SQL on the published warehouse (interactive without a query)"
DESCRIPTION = "Run queries on the published warehouse; statements that write are refused."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", help="SQL to run; omit for an interactive session")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=FORMATS[0],
        help="output (default: %(default)s); in the shell, .mode changes it",
    )


def handle(args) -> int:
    try:
        cap_process_memory()
        if args.query is None:
            shell(settings.published_path(), args.format)
        else:
            print(run_sql(settings.published_path(), args.query, args.format))
    except (ReadOnlyRefusal, QueryStopped, FileNotFoundError, ValueError, duckdb.Error) as error:
        print(error, file=sys.stderr)  # ValueError: a CARTWH_SQL_* setting that is not a number
        return 1
    except MemoryError:
        print(OUT_OF_MEMORY, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while opening the copy or printing a result: one line, no traceback
        print(INTERRUPTED.split(";")[0], file=sys.stderr)
        return 130
    return 0
