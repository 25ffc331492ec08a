"""Cytometry exports: population statistics tables and the sample manifest.

A statistics export is what FlowJo's table editor or Infinicyt writes: one row per sample
(the FCS file name in the first column), one column per `<gate path> | <statistic>`, and
FlowJo's summary rows ("Mean", "SD") at the bottom. The manifest (a LIMS worklist) links
each FCS file to the patient, specimen, collection date, nominal timepoint, instrument and
panel. Gate paths are the analysis template's and change between panel versions; mapping
them to canonical populations is reference data (a dbt seed), not code.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cartwh.contract.reference import seed_rows, study_parameter

HEADER_SEPARATOR = " | "
SAMPLE_COLUMN = "Sample"
# What a per-tube (long) export names its columns of FCS file names, populations, statistics and values
# (cartwh.ingest.statistics_layouts), compared trimmed and case-folded: text, never numbers.
SAMPLE_HEADERS = (
    "sample",
    "name",
    "file",
    "file name",
    "filename",
    "fcs file",
    "fcs file name",
    "data set",
    "dataset",
    "tube",
)
POPULATION_HEADERS = ("population", "gate", "gate name", "gate path", "population name")
STATISTIC_HEADER, VALUE_HEADER = "statistic", "value"
TEXT_HEADERS = frozenset((*SAMPLE_HEADERS, *POPULATION_HEADERS, STATISTIC_HEADER))
SUMMARY_ROWS = ("Mean", "SD")  # FlowJo appends these; they are not samples
# Every summary row FlowJo's table editor (its statistics: Mean, Median, SD, CV, Robust SD,
# Robust CV, Geom. Mean, Mode, Median Abs Dev, Min, Max, Count, Sum) or a spreadsheet (AVERAGE,
# STDEV, Total, ...) puts under the tubes. A first-column cell is compared with these after
# lower-casing and dropping all but ASCII letters and digits, so 'Std. Dev.', 'Std Dev',
# 'StdDev' and 'STD DEV' are one ('stddev').
SUMMARY_ROW_KEYS = frozenset(
    {
        "mean",
        "average",
        "avg",
        "arithmeticmean",
        "geommean",
        "geometricmean",
        "median",
        "mode",
        "sd",
        "stddev",
        "stdev",
        "std",
        "standarddeviation",
        "stdeviation",
        "robustsd",
        "sem",
        "se",
        "cv",
        "robustcv",
        "rcv",
        "mad",
        "medianabsdev",
        "medianabsolutedeviation",
        "variance",
        "var",
        "min",
        "minimum",
        "max",
        "maximum",
        "range",
        "sum",
        "total",
        "count",
        "n",
    }
)


def summary_key(cell: str) -> str:
    """A first-column cell as SUMMARY_ROW_KEYS spell it: lower case, ASCII letters and digits only."""
    return "".join(c for c in cell.lower() if c.isascii() and c.isalnum())


def is_summary_row(cell: str) -> bool:
    return summary_key(cell) in SUMMARY_ROW_KEYS


COUNT = "Count"
FREQ_PARENT = "Freq. of Parent"
FREQ_TOTAL = "Freq. of Total"
ABSOLUTE = "Absolute Count (cells/µL)"
STATISTICS = (COUNT, FREQ_PARENT, FREQ_TOTAL, ABSOLUTE)
# The one list of statistic spellings a lab's software writes (FlowJo v10's `Freq. of Parent (%)`,
# Infinicyt's and Kaluza's `% Parent`, `#Events`, `Cells/µL`, ...), the statistic each is, its
# short name in the models and whether it is a percentage: a dbt seed, read here at ingestion and
# by the `statistic_name` macro in dbt, so a new spelling is one seed row for both.
STATISTICS_SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "cytometry_statistics.csv"


def spelling_key(name: str) -> str:
    """How statistic spellings are compared: Unicode-normalised (the micro sign and the Greek mu
    are one), case-folded, blanks collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@functools.cache
def _statistics_seed() -> tuple[dict[str, str], frozenset[str]]:
    with open(STATISTICS_SEED, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return (
        {spelling_key(r["spelling"]): r["statistic"] for r in rows},
        frozenset(r["statistic"] for r in rows if r["percent"] == "true"),
    )


def statistic_of(spelling: str) -> str | None:
    """The statistic (one of STATISTICS) a written statistic name is, or None when unknown."""
    return _statistics_seed()[0].get(spelling_key(spelling))


def is_percent(statistic: str) -> bool:
    return statistic in _statistics_seed()[1]


# A lab's own names: a column the table editor let it rename (`CAR-T count` for
# `Leukocytes/Lymphocytes/CD3+/CAR+ | Count`), or a gate it names differently (Kaluza's `CAR+`
# for the template's path). Each maps onto a gate path of the population dictionary (and, for a
# whole column, a statistic); the raw table stores that gate path, and the population dictionary
# alone maps gate paths to populations.
LAB_COLUMNS_SEED = STATISTICS_SEED.with_name("cytometry_lab_columns.csv")
POPULATION_SEED = STATISTICS_SEED.with_name("population_dictionary.csv")


def lab_names(lab: str | None) -> dict[str, tuple[str, str | None]]:
    """The lab's names (compared as spelling_key compares) -> (gate path, statistic or None).
    Read at every call: the seed may be edited between runs. A row naming a gate path the
    population dictionary does not know is an error in the seed, raised here (ValueError)."""
    if not lab:
        return {}
    with open(POPULATION_SEED, newline="", encoding="utf-8") as handle:
        known = {row["gate_path"] for row in csv.DictReader(handle)}
    names = {}
    with open(LAB_COLUMNS_SEED, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["lab"].strip().lower() != lab.strip().lower():
                continue
            if row["gate_path"] not in known:
                raise ValueError(
                    f"cytometry_lab_columns maps {row['lab_name']!r} of lab {row['lab']!r} onto "
                    f"{row['gate_path']!r}, which the population dictionary does not know"
                )
            statistic = statistic_of(row["statistic"]) if row["statistic"].strip() else None
            names[spelling_key(row["lab_name"])] = (row["gate_path"], statistic)
    return names


# Control tubes (FMO, isotype, unstained, compensation, beads only) are run beside the patients'
# tubes and exported in the same tables, but are no patient's sample: the reviewed seed of the names
# labs give them, matched as whole words in an FCS file name or a manifest's sample_type
# (cartwh/ingest/cytometry_loader.py).
CONTROLS_SEED = STATISTICS_SEED.with_name("cytometry_control_tubes.csv")
PATIENT_SAMPLE = "patient"  # a manifest's sample_type for a patient's tube (or empty)


def control_names() -> list[tuple[str, str]]:
    """(name as labs write it, sample type) of every control tube name in the seed; read at every
    call, as the seed may be edited between runs."""
    with open(CONTROLS_SEED, newline="", encoding="utf-8") as handle:
        return [(row["name"], row["sample_type"]) for row in csv.DictReader(handle)]


MANIFEST_COLUMNS = (
    "fcs_file",
    "record_id",
    "specimen",
    "collection_date",
    "timepoint",
    "instrument",
    "panel",
    "acquisition_date",
)
# Single-platform bead counting (docs/definitions.md "Absolute counts"): optional, so manifests
# written before they existed stay valid. beads_per_tube from the lot's certificate, the volume
# of blood pipetted into the tube; either may instead come from the bead_lots seed by lot.
MANIFEST_BEAD_COLUMNS = ("bead_lot", "beads_per_tube", "sample_volume_ul")
# Optional too: patient (or empty), or a control tube's kind (CONTROLS_SEED).
MANIFEST_SAMPLE_TYPE = "sample_type"
BEADS_PER_TUBE_RANGE = (1_000, 1_000_000)  # bead tubes and suspensions hold 10^4-10^5 beads per test
SAMPLE_VOLUME_UL_RANGE = (10, 10_000)  # lyse-no-wash: 20-200 uL of blood; bulk lysis for rare cells: mL
SPECIMENS = ("peripheral blood", "bone marrow", "leukapheresis")

# docs/definitions.md "Timeline and study day": months = days / 30.4375 (the study_parameters seed).
DAYS_PER_MONTH = study_parameter("days_per_month")

# Nominal monitoring timepoints (study day) of docs/definitions.md "Timeline and study day", plus the
# monthly B-cell follow-up, and the pre-infusion ones (no nominal day): the timepoint_windows seed.
TIMEPOINT_DAYS = {r["timepoint"]: int(r["nominal_day"]) for r in seed_rows("timepoint_windows") if r["nominal_day"]}
PRE_INFUSION_TIMEPOINTS = tuple(r["timepoint"] for r in seed_rows("timepoint_windows") if not r["nominal_day"])


@dataclass(frozen=True)
class Gate:
    """A population in an analysis template: `key` is the generator's handle, `path` the gate path."""

    key: str
    path: str
    statistics: tuple[str, ...]


def _tree(root: str, gates: list[tuple[str, str, tuple[str, ...]]]) -> tuple[Gate, ...]:
    return tuple(Gate(key, f"{root}/{path}" if path else root, stats) for key, path, stats in gates)


_ALL = (COUNT, FREQ_PARENT, FREQ_TOTAL, ABSOLUTE)
_FREQ = (COUNT, FREQ_PARENT)


def _detection(car: str, bcells: str) -> tuple[Gate, ...]:
    """CAR-T detection and B cells. v2 of the template renamed the CAR and B-cell gates."""
    return _tree(
        "Leukocytes",
        [
            ("leukocytes", "", (COUNT, ABSOLUTE)),
            ("lymphocytes", "Lymphocytes", _ALL),
            ("cd3", "Lymphocytes/CD3+", _ALL),
            ("car", f"Lymphocytes/CD3+/{car}", _ALL),
            ("car_cd4", f"Lymphocytes/CD3+/{car}/CD4+", _ALL),
            ("car_cd8", f"Lymphocytes/CD3+/{car}/CD8+", _ALL),
            ("carneg_cd8", "Lymphocytes/CD3+/CAR-/CD8+", _ALL),
            ("bcells", f"Lymphocytes/{bcells}", _ALL),
        ],
    )


_SUBSETS = [
    ("naive", "Naive (CD45RA+ CD62L+ CD27+ CD95-)"),
    ("scm", "SCM (CD45RA+ CD62L+ CD27++ CD95+)"),
    ("cm", "CM (CD45RA- CD62L+)"),
    ("em", "EM (CD45RA- CD62L-)"),
    ("temra", "TEMRA (CD45RA+ CD62L-)"),
]
_MARKERS = [("pd1", "PD1+"), ("lag3", "LAG3+"), ("ki67", "Ki67+"), ("cd71", "CD71+")]


def _memory(car: str) -> tuple[Gate, ...]:
    """Memory subsets and exhaustion/activation of CD8+ CAR+ and CAR- T cells."""
    gates = [
        ("lymphocytes", "Lymphocytes", (COUNT, ABSOLUTE)),
        ("cd3", "Lymphocytes/CD3+", _FREQ),
        ("car", f"Lymphocytes/CD3+/{car}", _ALL),
        ("car_cd4", f"Lymphocytes/CD3+/{car}/CD4+", _FREQ),
        ("car_cd4_ki67", f"Lymphocytes/CD3+/{car}/CD4+/Ki67+", _FREQ),
        ("car_cd8", f"Lymphocytes/CD3+/{car}/CD8+", _ALL),
        ("carneg_cd8", "Lymphocytes/CD3+/CAR-/CD8+", _ALL),
    ]
    for parent_key, parent in (
        ("car_cd8", f"Lymphocytes/CD3+/{car}/CD8+"),
        ("carneg_cd8", "Lymphocytes/CD3+/CAR-/CD8+"),
    ):
        gates += [(f"{parent_key}_{k}", f"{parent}/{name}", _ALL) for k, name in _SUBSETS]
        gates += [(f"{parent_key}_{k}", f"{parent}/{name}", _FREQ) for k, name in _MARKERS]
    return _tree("Leukocytes", gates)


def _leukapheresis() -> tuple[Gate, ...]:
    return _tree(
        "Leukocytes",
        [
            ("leukocytes", "", (COUNT,)),
            ("monocytes", "Monocytes", (COUNT, FREQ_TOTAL)),
            ("mono_classical", "Monocytes/Classical (CD14++ CD16-)", _FREQ),
            ("mono_intermediate", "Monocytes/Intermediate (CD14++ CD16+)", _FREQ),
            ("mono_nonclassical", "Monocytes/Non-classical (CD14+ CD16++)", _FREQ),
            ("pdc", "Plasmacytoid DC", (COUNT, FREQ_TOTAL)),
            ("mdc", "Myeloid DC", (COUNT, FREQ_TOTAL)),
            ("lymphoblasts", "Lymphoblasts (CD19+ CD10+ CD34+)", (COUNT, FREQ_TOTAL)),
            ("lymphocytes", "Lymphocytes", (COUNT, FREQ_TOTAL)),
            ("cd3", "Lymphocytes/CD3+", _FREQ),
            ("cd8", "Lymphocytes/CD3+/CD8+", _FREQ),
            ("cd8_scm_like", "Lymphocytes/CD3+/CD8+/SCM-like (CD45RA+ CD62L+ CD95+)", _FREQ),
        ],
    )


# Counting beads are gated on scatter and their own fluorescence among all events, outside the
# leukocyte tree; only their Count is used (docs/definitions.md "Absolute counts").
BEADS = Gate("beads", "Beads", (COUNT,))

# panel name -> gates. The v2 templates renamed gates; their populations are the same.
PANELS: dict[str, tuple[Gate, ...]] = {
    "CART-DETECT-v1": (*_detection("CAR+", "CD19+ B cells"), BEADS),
    "CART-DETECT-v2": (*_detection("CD19-CAR+", "B cells (CD19+)"), BEADS),
    "CART-MEMORY-v1": (*_memory("CAR+"), BEADS),
    "CART-MEMORY-v2": (*_memory("CD19-CAR+"), BEADS),
    "LEUKAPHERESIS-v1": _leukapheresis(),
}
PANEL_V2_FROM = "2024-01-01"  # acquisitions from this date use the revised templates


def split_column(column: str) -> tuple[str, str] | None:
    """'<gate path> | <statistic>' -> (gate path, statistic); None when it is not one."""
    path, sep, statistic = column.rpartition(HEADER_SEPARATOR)
    return (path.strip(), statistic.strip()) if sep and path.strip() else None
