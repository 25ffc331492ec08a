"""`cartwh generate`: a synthetic landing folder (the paper's cohort or a registry) in the contract's formats."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from cartwh import settings

HELP = "write a synthetic landing folder (paper cohort or registry)"
DESCRIPTION = "Write synthetic REDCap and cytometry exports in the contract's formats."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--landing", default=str(settings.landing_dir()), help="folder to write (default: %(default)s)")
    parser.add_argument("--patients", type=int, help="registry size; omit for the paper's 24-patient cohort")
    parser.add_argument("--sites", type=int, default=1, help="centres of the registry (default: %(default)s)")
    # No default imported here: `cartwh sql` must start without the generator (or anything near the key)
    parser.add_argument("--seed", type=int, help="random seed (default: the generator's fixed seed)")
    parser.add_argument("--faults", action="store_true", help="inject realistic export faults")
    parser.add_argument(
        "--faults-log",
        default=str(settings.data_dir() / "faults_injected.csv"),
        help="where to list the injected faults (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="write even if the folder holds exports")
    parser.add_argument(
        "--absolute-counts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the lab's absolute count column (default: the demo does, a registry, "
        "as FlowJo, does not; cells/uL then come from the beads)",
    )
    parser.add_argument(
        "--redcap-layout",
        choices=("classic", "longitudinal", "mixed"),
        default="classic",
        help="REDCap exports as the shipped project (classic), as each site's own longitudinal "
        "project with its mapping.yml, or mixed (every other registry site longitudinal)",
    )
    parser.add_argument(
        "--cytometry-dialect",
        default=None,
        metavar="DIALECT",
        help="how every lab writes its statistics tables, one of cartwh.generate.lab_dialects."
        "DIALECTS (default: the demo canonical CSV, a registry's sites each in turn)",
    )
    parser.add_argument(
        "--fcs-files",
        choices=("none", "sample", "all"),
        default="sample",
        help="tubes also written as FCS files, gated by the shipped GatingML templates: one per panel beside "
        "the tables (sample, the default), none, or every tube instead of the tables (all)",
    )
    parser.add_argument(
        "--events-scale",
        type=float,
        default=1.0,
        help="share of each tube's events acquired (e.g. 0.01 keeps FCS files of every tube small)",
    )


def handle(args) -> int:
    from cartwh.generate import DEFAULT_SEED, generate_landing
    from cartwh.synthetic import files_in

    landing = Path(args.landing)
    if files_in(landing) and not args.force:
        print(f"{landing} already holds files; use --force to write into it anyway.", file=sys.stderr)
        return 1
    try:
        summary = generate_landing(
            landing,
            args.patients,
            args.sites,
            DEFAULT_SEED if args.seed is None else args.seed,
            args.faults,
            progress=True,
            exported_absolute_counts=args.absolute_counts,
            redcap_layout=args.redcap_layout,
            cytometry_dialect=args.cytometry_dialect,
            fcs_files=args.fcs_files,
            events_scale=args.events_scale,
        )
    except ValueError as error:  # an unknown layout or dialect, or faults asked of the longitudinal layout
        print(f"cartwh generate: {error}", file=sys.stderr)
        return 2
    kind = "paper cohort" if args.patients is None else "registry"
    print(
        f"Wrote {summary.files:,} export files for {summary.patients:,} patients ({kind}, "
        f"{summary.sites} site(s)) to {landing}: {summary.redcap_rows:,} REDCap rows, "
        f"{summary.samples:,} cytometry tubes."
    )
    if args.faults:
        log = Path(args.faults_log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(summary.faults[0].as_dict()))
            writer.writeheader()
            writer.writerows(f.as_dict() for f in summary.faults)
        print(f"Injected {len(summary.faults)} faults; their list is in {log}.")
    return 0
