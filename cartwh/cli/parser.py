"""The `cartwh` parser: every command of this package, in the order `cartwh --help` lists them."""

from __future__ import annotations

import argparse
import logging

from cartwh.cli import generate, ingest, pull, rebuild, run, sql, status
from cartwh.warehouse.permissions import keep_new_files_private

# Each command's module: its HELP, DESCRIPTION, `add_arguments(parser)` when it takes any, and
# `handle(args)`, the exit status.
COMMANDS = {
    "generate": generate,
    "ingest": ingest,
    "run": run,
    "pull": pull,
    "sql": sql,
    "rebuild": rebuild,
    "status": status,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cartwh", description="CAR-T monitoring data warehouse.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        subparser = commands.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        if hasattr(command, "add_arguments"):
            command.add_arguments(subparser)
        subparser.set_defaults(handler=command.handle)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    keep_new_files_private()  # whatever cartwh writes is its account's only (what analysts read is opened explicitly)
    args = build_parser().parse_args(argv)
    return args.handler(args)
