"""Turn a cohort design (one row per patient) into what the EDC and the lab hold: dated REDCap
rows per form and cytometry samples with their true population values.

Study day 0 is the infusion; months are 30.4375 days (docs/definitions.md). Nothing after the data
cut-off, a death, a relapse or a consolidative HSCT is monitored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartwh.contract.cytometry import DAYS_PER_MONTH as MONTH
from cartwh.contract.cytometry import TIMEPOINT_DAYS
from cartwh.generate.kinetics import sample_values

_FIRST_NAMES = [
    "Lucía",
    "Hugo",
    "Martina",
    "Mateo",
    "Sofía",
    "Leo",
    "Julia",
    "Daniel",
    "Paula",
    "Pablo",
    "Valeria",
    "Álvaro",
    "Emma",
    "Manuel",
    "Carla",
    "Adrián",
    "Noa",
    "Marcos",
    "Alba",
    "Mario",
]
_SURNAMES = [
    "García",
    "Rodríguez",
    "González",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Romero",
]
_CHEMO_REGIMENS = [
    "FLAG-Ida",
    "Vincristine + dexamethasone",
    "Mercaptopurine + methotrexate",
    "Cytarabine + etoposide",
    "Vincristine + PEG-asparaginase + dexamethasone",
]


@dataclass
class Cohort:
    """REDCap rows by form (fields named as in the data dictionary) and cytometry samples."""

    base: pd.DataFrame  # one row per record: every non-repeating form
    repeating: dict[str, pd.DataFrame]  # form -> rows with record_id and instance
    samples: pd.DataFrame  # one row per FCS file: manifest fields and true values


def _offset(dates: np.ndarray, days) -> np.ndarray:
    return dates + np.asarray(np.round(days), dtype="int64").astype("timedelta64[D]")


def _month_date(d0: np.ndarray, months) -> np.ndarray:
    """The date `months` after infusion, NaT where months is NaN."""
    months = np.asarray(months, dtype=float)
    days = np.where(np.isnan(months), 0, np.round(months * MONTH)).astype("int64")
    return np.where(np.isnan(months), np.datetime64("NaT"), d0 + days.astype("timedelta64[D]"))


def _col(design: pd.DataFrame, name: str) -> np.ndarray:
    return design[name].to_numpy(dtype=float) if name in design else np.full(len(design), np.nan)


def realize(design: pd.DataFrame, rng: np.random.Generator, cutoff: str) -> Cohort:
    n = len(design)
    cut = np.datetime64(cutoff, "D")
    ino = (design["group"] == "inotuzumab").to_numpy()
    d0 = design["infusion_date"].to_numpy().astype("datetime64[D]")
    ld = _offset(d0, -rng.integers(6, 9, n))
    apheresis = _offset(d0, -np.where(ino, rng.integers(80, 101, n), rng.integers(40, 71, n)))
    bt_start = _offset(apheresis, rng.integers(2, 8, n))
    post_bm = _offset(ld, -rng.integers(2, 6, n))
    bt_end = np.minimum(
        _offset(bt_start, np.where(ino, rng.integers(14, 22, n), rng.integers(14, 29, n))), _offset(post_bm, -3)
    )
    pre_bm = _offset(bt_start, -rng.integers(1, 7, n))

    def within(dates):
        return np.where(dates <= cut, dates, np.datetime64("NaT"))

    relapse = within(_month_date(d0, _col(design, "rel_m")))
    progression = within(_month_date(d0, _col(design, "prog_m")))
    hsct = within(_month_date(d0, _col(design, "hsctc_m")))
    death = within(_month_date(d0, _col(design, "death_m")))
    alive = np.isnat(death)
    last_contact = np.where(alive, _offset(np.full(n, cut), -rng.integers(0, 21, n)), death)
    monitoring_end = np.nanmin(
        np.stack([relapse, progression, hsct, death, np.full(n, cut)]).astype("datetime64[D]"), axis=0
    )

    base = _base_rows(design, rng, d0, ld, apheresis, last_contact, alive)
    repeating = {
        "bridging_therapy": _bridging_rows(design, rng, ino, bt_start, bt_end),
        "marrow_assessment": _marrow_rows(design, rng, d0, pre_bm, post_bm, relapse),
        "laboratory": _lab_rows(design, rng, d0, ld, apheresis),
        "follow_up_event": _event_rows(design, rng, relapse, progression, hsct, death),
    }
    samples = _samples(design, rng, d0, apheresis, post_bm, monitoring_end)
    return Cohort(base, repeating, samples)


def _yes(values) -> np.ndarray:
    return np.asarray(values).astype(int)


def _base_rows(design, rng, d0, ld, apheresis, last_contact, alive) -> pd.DataFrame:
    n = len(design)
    age_days = design["age"].to_numpy() * 365.25 + rng.integers(15, 340, n)
    hsct_m = _col(design, "hsct_m")
    relapse_post_hsct = _offset(apheresis, -rng.integers(20, 61, n))
    prior_hsct = design["hsct"].to_numpy() == 1
    crs = design["crs"].to_numpy()
    b = pd.DataFrame({"record_id": design["record_id"].to_numpy()})
    b["redcap_data_access_group"] = design["site"].str.lower().to_numpy()
    b["patient_name"] = [f"{f} {s}" for f, s in zip(rng.choice(_FIRST_NAMES, n), rng.choice(_SURNAMES, n), strict=True)]
    b["mrn"] = rng.integers(10_000_000, 99_999_999, n).astype(str)
    b["birth_date"] = _offset(d0, -age_days)
    b["sex"] = np.where(design["sex"] == "F", "2", "1")
    b["consent_date"] = _offset(apheresis, -rng.integers(7, 31, n))
    # diagnosed 400-1500 days before apheresis, but never in the first half of a young patient's life
    lived = (np.asarray(apheresis, dtype="datetime64[D]") - np.asarray(b["birth_date"], dtype="datetime64[D]")).astype(
        int
    )
    b["diagnosis_date"] = _offset(apheresis, -np.minimum(rng.integers(400, 1500, n), lived // 2))
    b["cytogenetics"] = design["cyto"].astype(int).astype(str).to_numpy()
    b["tp53_mutated"] = _yes(design["tp53"])
    b["prior_lines"] = rng.integers(2, 6, n)
    b["prior_hsct"] = _yes(prior_hsct)
    b["relapse_post_hsct_date"] = np.where(prior_hsct, relapse_post_hsct, np.datetime64("NaT"))
    # the transplant after the diagnosis (a registry's long HSCT-to-relapse intervals would precede it)
    hsct = np.maximum(_offset(relapse_post_hsct, -np.nan_to_num(hsct_m) * MONTH), b["diagnosis_date"].to_numpy())
    b["prior_hsct_date"] = np.where(prior_hsct, hsct, np.datetime64("NaT"))
    b["prior_blinatumomab"] = _yes(design["blina"])
    b["prior_inotuzumab"] = _yes(design["ino_pre"])
    b["prior_inotuzumab_last_date"] = np.where(
        design["ino_pre"] == 1, _offset(apheresis, -rng.integers(10, 150, n)), np.datetime64("NaT")
    )
    b["apheresis_date"] = apheresis
    b["apheresis_number"] = np.where((design["ino_pre"] == 1) & (rng.random(n) < 0.3), 2, 1)
    b["ld_start_date"] = ld
    b["ld_regimen"] = "1"
    b["fludarabine_mg_m2_day"] = 30
    b["cyclophosphamide_mg_m2_day"] = 500
    b["infusion_date"] = d0
    b["car_t_product"] = "1"
    b["car_t_dose_1e6_per_kg"] = np.round(rng.uniform(0.2, 5.0, n), 2)
    b["crs_grade"] = crs.astype(str)
    b["crs_onset_date"] = np.where(crs > 0, _offset(d0, rng.integers(1, 6, n)), np.datetime64("NaT"))
    b["icans_grade"] = design["icans"].astype(str).to_numpy()
    b["iec_hs"] = _yes(design["iec"])
    anakinra = design["anak"].to_numpy() == 1
    siltuximab_instead = rng.random(n) < 0.3
    b["anticytokine___1"] = _yes(design["toci"])
    b["anticytokine___2"] = _yes(design["ster"])
    b["anticytokine___3"] = _yes(anakinra & ~siltuximab_instead)
    b["anticytokine___4"] = _yes(anakinra & siltuximab_instead)
    b["tocilizumab_doses"] = np.where(design["toci"] == 1, rng.integers(1, 4, n), np.nan)
    b["d28_assessment_date"] = _offset(d0, 28 + rng.integers(-2, 3, n))
    b["d28_response"] = design["d28"].map({"CR": "1", "CRi": "2", "NR": "3"}).to_numpy()
    b["d28_mrd"] = np.where(design["d28"] == "NR", "2", "1")
    b["last_contact_date"] = last_contact
    b["vital_status"] = np.where(alive, "1", "2")
    return b


def _stack(design, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-kind rows, order them per record by date, number the instances."""
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True)
    date_column = next(c for c in rows.columns if c.endswith("_date"))
    rows = rows.sort_values(["_order", date_column], kind="stable").drop(columns="_order")
    rows["redcap_repeat_instance"] = rows.groupby("record_id").cumcount() + 1
    return rows.reset_index(drop=True)


def _frame(design, mask, **columns) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    frame = pd.DataFrame(
        {k: (np.broadcast_to(v, len(design)) if np.ndim(v) == 0 else np.asarray(v))[mask] for k, v in columns.items()}
    )
    frame.insert(0, "record_id", design["record_id"].to_numpy()[mask])
    frame.insert(0, "_order", np.flatnonzero(mask))
    return frame


def _bridging_rows(design, rng, ino, bt_start, bt_end) -> pd.DataFrame:
    n = len(design)
    steroids_only = ~ino & (rng.random(n) < 0.15)
    main_agent = np.where(ino, "1", np.where(steroids_only, "3", "2"))
    regimen = np.where(
        ino,
        "Inotuzumab ozogamicin 0.5 mg/m2 d1, d8, d15",
        np.where(steroids_only, "Dexamethasone", rng.choice(_CHEMO_REGIMENS, n)),
    )
    extra_steroids = ino & (rng.random(n) < 0.2)
    return _stack(
        design,
        [
            _frame(
                design, np.ones(n), bt_agent=main_agent, bt_regimen=regimen, bt_start_date=bt_start, bt_end_date=bt_end
            ),
            _frame(
                design,
                extra_steroids,
                bt_agent="3",
                bt_regimen="Dexamethasone",
                bt_start_date=bt_start,
                bt_end_date=_offset(bt_start, 5),
            ),
        ],
    )


def _marrow_rows(design, rng, d0, pre_bm, post_bm, relapse) -> pd.DataFrame:
    n = len(design)
    pre, post = design["pre"].to_numpy(), design["post"].to_numpy()
    mrd0 = design["mrd0"].to_numpy() == 1
    lod = 0.001

    def assessment(mask, date, blasts, undetectable, bcp, em):
        blasts = np.round(np.asarray(blasts, dtype=float), 3)
        return _frame(
            design,
            mask,
            bm_date=date,
            bm_blasts_pct=blasts,
            bm_mrd_status=np.where(undetectable, "2", "1"),
            bm_mrd_pct=np.where(undetectable, np.nan, blasts),
            bm_mrd_lod_pct=lod,
            bm_bcell_precursors_pct=bcp,
            bm_em_disease=_yes(em),
        )

    marrow_relapse = ~np.isnat(relapse) & (rng.random(n) < 0.9)
    return _stack(
        design,
        [
            assessment(
                np.ones(n),
                _offset(pre_bm, -rng.integers(15, 41, n)),
                np.minimum(pre * rng.uniform(1, 1.6, n), 99),
                np.zeros(n),
                np.round(rng.uniform(0, 5, n), 2),
                design["em"] == 1,
            ),
            assessment(np.ones(n), pre_bm, pre, np.zeros(n), np.round(rng.uniform(0, 5, n), 2), design["em"] == 1),
            assessment(np.ones(n), post_bm, post, mrd0, design["bcp"], np.zeros(n)),
            assessment(
                np.ones(n),
                _offset(d0, 28 + rng.integers(-2, 3, n)),
                np.zeros(n),
                design["d28"] != "NR",
                np.zeros(n),
                np.zeros(n),
            ),
            assessment(marrow_relapse, relapse, rng.uniform(1, 80, n), np.zeros(n), np.zeros(n), np.zeros(n)),
        ],
    )


# field -> (code of the standard unit, alternative code, factor from the standard unit): the
# unit_conversions seed's codes and factors (tests/unit/generate/test_generator_reference.py pins them).
_UNITS = {
    "anc": ("1", "2", 1000.0),  # x10^9/L or cells/uL
    "hb": ("1", "2", 10.0),  # g/dL or g/L
    "crp": ("1", "2", 10.0),  # mg/dL or mg/L
}


# Hematotox component -> designed points -> (low, high) of the pre-LD value drawn, in the standard
# unit: inside that points' band of the hematotox_bands seed (tests/unit/generate/test_generator_reference.py).
PRE_LD_LAB_RANGES = {
    "platelets": {0: (180, 260), 1: (80, 170), 2: (25, 72)},
    "anc": {0: (1.3, 2.4), 1: (0.25, 1.15)},
    "hemoglobin": {0: (9.4, 12.6), 1: (7.2, 8.8)},
    "crp": {0: (0.05, 2.5), 1: (3.2, 9.5)},
}


def _labs(design, rng, mask, date, anc, plt, hb, crp) -> pd.DataFrame:
    n = len(design)
    values = {"anc": anc, "hb": hb, "crp": crp}
    columns = {"lab_date": date}
    for name, (unit, other, factor) in _UNITS.items():
        alternative = rng.random(n) < 0.35  # exports mix units: staging converts
        columns[f"{name}_value"] = np.round(np.where(alternative, values[name] * factor, values[name]), 2)
        columns[f"{name}_unit"] = np.where(alternative, other, unit)
        if name == "anc":
            columns["plt_value"], columns["plt_unit"] = np.round(plt), "1"
    columns["ldh_value"], columns["ldh_unit"] = np.round(rng.uniform(170, 390, n)), "1"
    columns["ferritin_value"] = np.round(rng.uniform(150, 3000, n))
    columns["ferritin_unit"] = np.where(rng.random(n) < 0.5, "1", "2")
    return _frame(design, mask, **columns)


def _lab_rows(design, rng, d0, ld, apheresis) -> pd.DataFrame:
    """Pre-LD labs carry the designed Hematotox points (docs/definitions.md "ALL-Hematotox score"
    bands); others are context."""
    n = len(design)
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    r = PRE_LD_LAB_RANGES
    plt = np.select(
        [design["plt"] == 0, design["plt"] == 1], [u(*r["platelets"][0]), u(*r["platelets"][1])], u(*r["platelets"][2])
    )
    anc = np.where(design["anc"] == 1, u(*r["anc"][1]), u(*r["anc"][0]))
    hb = np.where(design["hb"] == 1, u(*r["hemoglobin"][1]), u(*r["hemoglobin"][0]))
    crp = np.where(design["crp"] == 1, u(*r["crp"][1]), np.exp(u(*np.log(r["crp"][0]))))  # points 0: log-uniform
    always = np.ones(n)
    return _stack(
        design,
        [
            _labs(design, rng, always, apheresis, u(0.5, 3), u(40, 250), u(8, 13), u(0.05, 2)),
            _labs(design, rng, always, _offset(ld, -rng.integers(0, 4, n)), anc, plt, hb, crp),
            _labs(design, rng, always, d0, u(0.01, 0.3), u(20, 120), u(7.5, 11), u(0.1, 3)),
            _labs(design, rng, always, _offset(d0, 7), u(0.01, 1), u(15, 100), u(7.5, 11), u(0.5, 15)),
            _labs(design, rng, always, _offset(d0, 28), u(0.5, 2.5), u(30, 200), u(8, 12), u(0.05, 1)),
        ],
    )


def _event_rows(design, rng, relapse, progression, hsct, death) -> pd.DataFrame:
    n = len(design)
    cd19 = np.where(design["cd19"].to_numpy() == "neg", "2", "1") if "cd19" in design else np.full(n, "1")
    site = rng.choice(["1", "2", "3"], n, p=[0.85, 0.07, 0.08])
    no = np.full(n, None, dtype=object)
    return _stack(
        design,
        [
            _frame(
                design,
                ~np.isnat(relapse),
                event_type="1",
                event_date=relapse,
                relapse_cd19=cd19,
                relapse_site=site,
                death_cause=no,
            ),
            _frame(
                design,
                ~np.isnat(progression),
                event_type="2",
                event_date=progression,
                relapse_cd19=no,
                relapse_site=no,
                death_cause=no,
            ),
            _frame(
                design,
                ~np.isnat(hsct),
                event_type="3",
                event_date=hsct,
                relapse_cd19=no,
                relapse_site=no,
                death_cause=no,
            ),
            _frame(
                design,
                ~np.isnat(death),
                event_type="4",
                event_date=death,
                relapse_cd19=no,
                relapse_site=no,
                death_cause=np.where(np.isnat(relapse), "2", "1"),
            ),
        ],
    )


def _samples(design, rng, d0, apheresis, post_bm, monitoring_end) -> pd.DataFrame:
    """One row per blood sample and tube: when, which panel, and the true populations."""
    n = len(design)
    pday = design["pday"].to_numpy()
    nominal = np.array(list(TIMEPOINT_DAYS.values()))
    names = np.array(list(TIMEPOINT_DAYS))
    patient = np.repeat(np.arange(n), len(nominal))
    tp = np.tile(names, n)
    day = np.tile(nominal, n).astype(float)
    monthly = day > 28
    day = day + np.where(monthly, rng.integers(-7, 8, len(day)), 0)
    is_peak = ~monthly & (day == pday[patient])
    jitter = ~monthly & ~is_peak & np.isin(tp, ["D11", "D21"]) & (rng.random(len(day)) < 0.25)
    day = day + np.where(jitter, rng.choice([-1, 1], len(day)), 0)
    date = _offset(d0[patient], day)
    kept = (date <= monitoring_end[patient]) & (is_peak | (rng.random(len(day)) > 0.05))
    monitoring = pd.DataFrame({"patient": patient, "timepoint": tp, "day": day, "date": date, "is_peak": is_peak})[kept]

    pre_ld = pd.DataFrame(
        {
            "patient": np.arange(n),
            "timepoint": "PRE_LD",
            "date": post_bm,
            "day": (post_bm - d0).astype(float),
            "is_peak": False,
        }
    )
    blood = pd.concat([pre_ld, monitoring], ignore_index=True)
    blood["specimen"] = "peripheral blood"
    detect = blood.assign(panel_kind="DETECT")
    # The memory tube runs at D7-D28 and M3; "N studies" of Table 3 lacks it at the peak.
    phenotyped = design["pheno"].to_numpy() == 1
    memory_tp = np.isin(blood["timepoint"], ["D7", "D11", "D14", "D28", "M3"])
    unphenotyped_peak = blood["is_peak"].to_numpy() & ~phenotyped[blood["patient"].to_numpy()]
    memory = blood[memory_tp & ~unphenotyped_peak].assign(panel_kind="MEMORY")
    leuka = pd.DataFrame(
        {
            "patient": np.arange(n),
            "timepoint": "APHERESIS",
            "date": apheresis,
            "day": (apheresis - d0).astype(float),
            "is_peak": False,
            "specimen": "leukapheresis",
            "panel_kind": "LEUKAPHERESIS",
        }
    )
    samples = pd.concat([detect, memory, leuka], ignore_index=True)
    samples = samples.sort_values(["patient", "date", "panel_kind"], kind="stable").reset_index(drop=True)
    samples["record_id"] = design["record_id"].to_numpy()[samples["patient"]]
    samples["site"] = design["site"].to_numpy()[samples["patient"]]
    return sample_values(samples, design, rng)
