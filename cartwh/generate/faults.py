"""The mess real exports carry, injected on purpose so quality checks have something to find.

Each fault is logged with the file, row (spreadsheet numbering: the header is row 1) and
column it touched, and with who must catch it: ingestion quarantines what breaks the export
contract (malformed or impossible values, unknown codes, duplicates, truncation); the data
quality checks find what is well-formed but wrong (unit mix-ups, dates out of order, samples
of unknown patients). Some faults plant the record's own identifiers where labs and data
managers do type them (a name in free text, an MRN in an FCS file name, a birth date in a value
that is quarantined anyway): ingestion must catch them, and their log entries say what was
planted, never the identifier itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cartwh.contract.cytometry import FREQ_PARENT, SAMPLE_COLUMN, SUMMARY_ROWS

INGESTION, CHECKS = "ingestion", "checks"


@dataclass(frozen=True)
class Fault:
    kind: str
    file: str
    row: int
    column: str
    detail: str
    caught_by: str

    def as_dict(self) -> dict:
        return asdict(self)


def _pick(rng, frame: pd.DataFrame, mask) -> int:
    candidates = np.flatnonzero(np.asarray(mask))
    return int(rng.choice(candidates))


def inject_faults(files: dict[str, pd.DataFrame], rng: np.random.Generator):
    """Return modified copies of the export frames and the faults injected into them."""
    files = {name: frame.reset_index(drop=True) for name, frame in files.items()}
    found: list[tuple[str, int, str, str, str, str]] = []  # kind, file, index, column, detail, by
    redcap = sorted(n for n in files if n.startswith("redcap/"))[0]
    rc = files[redcap]
    form = rc["redcap_repeat_instrument"]

    def put(kind, name, frame, index, column, value, by):
        before = frame.at[index, column]
        frame[column] = frame[column].astype(object)
        frame.at[index, column] = value
        found.append((kind, name, index, column, f"{before} -> {value}", by))

    labs = form.eq("laboratory")
    # A mg/L value typed under a mg/dL label, on a CRP high enough that the result (>= 60
    # mg/dL) is impossible for the stated unit. A 10x error that stays within physiology
    # cannot be told from a sick patient by any check on the value itself.
    high_crp = pd.to_numeric(rc["crp_value"], errors="coerce").ge(6)
    i = _pick(rng, rc, labs & rc["crp_unit"].eq("1") & high_crp)
    put("unit_mixup", redcap, rc, i, "crp_value", round(float(rc.at[i, "crp_value"]) * 10, 2), CHECKS)
    i = _pick(rng, rc, form.eq("marrow_assessment"))
    put("impossible_value", redcap, rc, i, "bm_blasts_pct", 140.0, INGESTION)
    i = _pick(rng, rc, labs & rc["anc_value"].notna())
    put("impossible_value", redcap, rc, i, "anc_value", -0.4, INGESTION)
    i = _pick(rng, rc, labs)
    put("malformed_value", redcap, rc, i, "lab_date", "31/02/2024", INGESTION)
    i = _pick(rng, rc, labs & rc["hb_value"].notna())
    put("malformed_value", redcap, rc, i, "hb_value", str(rc.at[i, "hb_value"]).replace(".", ","), INGESTION)
    base = form.isna()
    i = _pick(rng, rc, base)
    put("invalid_code", redcap, rc, i, "sex", "9", INGESTION)
    i = _pick(rng, rc, base)
    late = (pd.Timestamp(rc.at[i, "ld_start_date"]) - pd.Timedelta(days=3)).strftime("%Y-%m-%d")
    put("dates_out_of_order", redcap, rc, i, "infusion_date", late, CHECKS)

    manifests = sorted(n for n in files if n.startswith("cytometry/manifests/"))
    name = manifests[len(manifests) // 2]
    put("unknown_patient", name, files[name], 0, "record_id", "X-999999", CHECKS)

    statistics = sorted(n for n in files if n.startswith("cytometry/statistics/"))
    name = statistics[len(statistics) // 3]
    st = files[name]
    column = next(c for c in st.columns if c.endswith(FREQ_PARENT))
    put("impossible_value", name, st, 0, column, 180.0, INGESTION)

    duplicates = [(redcap, _pick(rng, rc, labs)), (statistics[len(statistics) // 2], 0)]
    _plant_identifiers(files, redcap, manifests, found, duplicates, rng)
    return files, _with_duplicates(files, found, duplicates)


def _plant_identifiers(files, redcap: str, manifests: list[str], found: list, duplicates, rng) -> None:
    """The record's name in its bridging regimen, its MRN in an FCS file name (manifest and
    statistics alike, as the lab's software names both), its birth date typed as a lab date.
    Rows already carrying a fault are left alone."""
    rc = files[redcap]
    form = rc["redcap_repeat_instrument"]
    base = rc[form.isna()].set_index("record_id")
    used = {index for _, name, index, *_ in found if name == redcap} | {i for name, i in duplicates if name == redcap}
    free = ~rc.index.isin(list(used))

    def plant(kind, name, frame, index, column, value, what):
        frame[column] = frame[column].astype(object)
        frame.at[index, column] = value
        found.append((kind, name, index, column, what, INGESTION))

    i = _pick(rng, rc, form.eq("bridging_therapy") & rc["bt_regimen"].notna() & free)
    plant(
        "identifier_in_free_text",
        redcap,
        rc,
        i,
        "bt_regimen",
        f"{rc.at[i, 'bt_regimen']} - {base.at[rc.at[i, 'record_id'], 'patient_name']}",
        "the record's patient name appended to the regimen",
    )
    i = _pick(rng, rc, form.eq("laboratory") & free)
    born = base.at[rc.at[i, "record_id"], "birth_date"]
    plant(
        "identifier_in_quarantined_value",
        redcap,
        rc,
        i,
        "lab_date",
        f"{born[8:10]}/{born[5:7]}/{born[:4]}",
        "the record's birth date typed as the sample date, day first",
    )
    # A manifest whose statistics file no other fault touches, its second tube.
    statistics = {name.replace("/manifests/", "/statistics/") for name, *_ in duplicates} | {
        name for _, name, *_ in found if name.startswith("cytometry/statistics/")
    }
    name = next(
        m
        for m in manifests[len(manifests) // 4 :]
        if m.replace("/manifests/", "/statistics/") not in statistics
        and m not in {n for _, n, *_ in found}
        and len(files[m]) > 1
        and m.replace("/manifests/", "/statistics/") != sorted(n for n in files if "/statistics/" in n)[-1]
    )
    manifest, stats_name = files[name], name.replace("/manifests/", "/statistics/")
    tube = manifest.at[1, "fcs_file"]
    renamed = f"{base.at[str(manifest.at[1, 'record_id']), 'mrn']}_{tube}"
    stats = files[stats_name]
    (row,) = stats.index[stats[SAMPLE_COLUMN] == tube]
    plant(
        "identifier_in_file_name",
        name,
        manifest,
        1,
        "fcs_file",
        renamed,
        "the record's MRN put before the FCS file name",
    )
    plant(
        "identifier_in_file_name",
        stats_name,
        stats,
        int(row),
        SAMPLE_COLUMN,
        renamed,
        "the record's MRN put before the FCS file name",
    )


def _with_duplicates(files, found, duplicates) -> list[Fault]:
    """Insert exact copies right after the chosen rows; rows below them move down by one."""
    inserted: dict[str, list[int]] = {}
    for name, index in duplicates:
        frame = files[name]
        files[name] = pd.concat(
            [frame.iloc[: index + 1], frame.iloc[[index]], frame.iloc[index + 1 :]], ignore_index=True
        )
        inserted.setdefault(name, []).append(index)
        found.append(("duplicate_row", name, index, "", "exact copy of the row above", INGESTION))

    def row(kind, name, index):
        copy = kind == "duplicate_row"
        return index + 2 + int(copy) + sum(1 for at in inserted.get(name, []) if at < index)

    return [
        Fault(kind, name, row(kind, name, index), column, detail, by) for kind, name, index, column, detail, by in found
    ]


def truncate_file(landing: Path, name: str) -> list[Fault]:
    """Cut a statistics export in the middle of its last sample row (a transfer that died)."""
    path = Path(landing) / name
    lines = path.read_text().splitlines(keepends=True)
    samples = [i for i, line in enumerate(lines) if i and not line.startswith(SUMMARY_ROWS)]
    last = samples[-1]
    cut = lines[last][: len(lines[last]) // 2]
    path.write_text("".join(lines[:last]) + cut)
    return [Fault("truncated_file", name, last + 1, SAMPLE_COLUMN, "file ends mid-row", INGESTION)]
