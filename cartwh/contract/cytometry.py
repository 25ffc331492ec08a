"""Cytometry exports: population statistics tables and the sample manifest.

A statistics export is what FlowJo's table editor or Infinicyt writes: one row per sample
(the FCS file name in the first column), one column per `<gate path> | <statistic>`, and
FlowJo's summary rows ("Mean", "SD") at the bottom. The manifest (a LIMS worklist) links
each FCS file to the patient, specimen, collection date, nominal timepoint, instrument and
panel. Gate paths are the analysis template's and change between panel versions; mapping
them to canonical populations is reference data (a dbt seed), not code.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartwh.contract.reference import seed_rows, study_parameter

HEADER_SEPARATOR = " | "
SAMPLE_COLUMN = "Sample"
SUMMARY_ROWS = ("Mean", "SD")  # FlowJo appends these; they are not samples
# Every summary row FlowJo's table editor (its statistics: Mean, Median, SD, CV, Robust SD,
# Robust CV, Geom. Mean, Mode, Median Abs Dev, Min, Max, Count, Sum) or a spreadsheet (AVERAGE,
# STDEV, Total, ...) puts under the tubes. A first-column cell is compared with these after
# lower-casing and dropping all but ASCII letters and digits, so 'Std. Dev.', 'Std Dev',
# 'StdDev' and 'STD DEV' are one ('stddev').
SUMMARY_ROW_KEYS = frozenset({
    "mean", "average", "avg", "arithmeticmean", "geommean", "geometricmean", "median", "mode",
    "sd", "stddev", "stdev", "std", "standarddeviation", "stdeviation", "robustsd", "sem", "se",
    "cv", "robustcv", "rcv", "mad", "medianabsdev", "medianabsolutedeviation", "variance", "var",
    "min", "minimum", "max", "maximum", "range", "sum", "total", "count", "n",
})  # fmt: skip


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
PERCENT_STATISTICS = (FREQ_PARENT, FREQ_TOTAL)

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
    for parent_key, parent in (("car_cd8", f"Lymphocytes/CD3+/{car}/CD8+"),
                               ("carneg_cd8", "Lymphocytes/CD3+/CAR-/CD8+")):  # fmt: skip
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


# panel name -> gates. The v2 templates renamed gates; their populations are the same.
PANELS: dict[str, tuple[Gate, ...]] = {
    "CART-DETECT-v1": _detection("CAR+", "CD19+ B cells"),
    "CART-DETECT-v2": _detection("CD19-CAR+", "B cells (CD19+)"),
    "CART-MEMORY-v1": _memory("CAR+"),
    "CART-MEMORY-v2": _memory("CD19-CAR+"),
    "LEUKAPHERESIS-v1": _leukapheresis(),
}
PANEL_V2_FROM = "2024-01-01"  # acquisitions from this date use the revised templates


def split_column(column: str) -> tuple[str, str] | None:
    """'<gate path> | <statistic>' -> (gate path, statistic); None when it is not one."""
    path, sep, statistic = column.rpartition(HEADER_SEPARATOR)
    return (path.strip(), statistic.strip()) if sep and path.strip() else None
