"""`cartwh rebuild`: the raw layer again from the archive alone (cartwh.warehouse.rebuild), then the
main job."""

from __future__ import annotations

import sys

from cartwh import settings
from cartwh.cli import run

HELP = "rebuild the warehouse from scratch from the archived exports"
DESCRIPTION = (
    "Replay every archived export version into a fresh warehouse, then run "
    "the main job (marts, checks, statistics, publish)."
)


def handle(args) -> int:
    from cartwh.night.locking import writer_lock
    from cartwh.warehouse.archive_ledger import LedgerError, ledger_path, read_ledger
    from cartwh.warehouse.rebuild import RebuildError, rebuild_raw, set_aside_path

    working, published, archive = settings.warehouse_path(), settings.published_path(), settings.archive_dir()
    try:
        with writer_lock(working):
            seeded = not read_ledger(archive)
            replayed = rebuild_raw(working, [working, published], archive)
    except (RebuildError, LedgerError) as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "Interrupted: the rebuild stopped before replacing anything; the working warehouse is as it was.",
            file=sys.stderr,
        )
        return 130
    aside = set_aside_path(working)
    print(
        f"Replayed {replayed} archived file versions into a fresh raw layer (the archive's ledger, "
        f"{ledger_path(archive)}{', seeded once from the warehouse' if seeded else ''})"
        f"{f'; the previous warehouse is kept as {aside.name}' if aside.exists() else ''}. "
        "Rebuilding everything downstream..."
    )
    # The raw layer is new: the run rebuilds everything downstream, though the landing is unchanged.
    args.force = args.full_refresh = True
    return run.handle(args)
