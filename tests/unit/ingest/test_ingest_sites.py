"""Patients keyed per site (cartwh/ingest/keys.py): the pseudonym covers the site and the record id,
so REDCap record ids that restart at 1 in every site's project never merge two patients, the
cytometry manifest joins its own site's patients, and a record that moves between data access
groups is reported, not re-keyed."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import hmac_pseudonym, hmac_tube_key
from tests.unit.ingest.test_ingest_cytometry import MANIFEST_HEADER, MANIFESTS, CytometryWarehouse
from tests.unit.ingest.test_ingest_redcap import write_export

SECRET = "site-keying-test-secret"
HEADER = [
    "record_id",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
    "patient_name",
    "sex",
    "demographics_complete",
    "infusion_date",
    "lymphodepletion_infusion_complete",
]
# Site A's five patients are women infused in March, site B's five are men infused in May.
SITE_VALUES = {"huvr": ("2", "2024-03-0{}"), "hugm": ("1", "2024-05-1{}")}


def base_row(record_id: str, dag: str, sex: str, infusion: str) -> dict:
    return dict(
        record_id=record_id,
        redcap_data_access_group=dag,
        patient_name=f"Zelda Nombre{record_id}",
        sex=sex,
        demographics_complete="2",
        infusion_date=infusion,
        lymphodepletion_infusion_complete="2",
    )


class SiteWarehouse(CytometryWarehouse):
    source = "redcap"

    def export(self, name: str, rows: list[dict], header: list[str] = HEADER):
        rows = [{c: v for c, v in row.items() if c in header} for row in rows]
        return write_export(self.landing / "redcap" / name, rows, header)


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.delenv("CARTWH_SITE", raising=False)
    return open_warehouse(SiteWarehouse, SECRET)


def key(site: str, record_id: str) -> str:
    return hmac_pseudonym(SECRET, record_id, site)


def tube(fcs_file: str, site: str) -> str:
    return hmac_tube_key(SECRET, fcs_file, site)


def two_sites(wh, with_dag_column: bool) -> None:
    """Each site's own REDCap project (its own folder), record ids 1..5 in both."""
    header = HEADER if with_dag_column else [c for c in HEADER if c != "redcap_data_access_group"]
    for site, (sex, infusion) in SITE_VALUES.items():
        rows = [base_row(str(i), site, sex, infusion.format(i)) for i in range(1, 6)]
        folder = site if with_dag_column else site.upper()  # the folder's case does not matter
        wh.export(f"{folder}/cart_monitoring_{site}_20240601.csv", rows, header)


@pytest.mark.parametrize("with_dag_column", [True, False], ids=["data access group", "site folder"])
def test_two_sites_with_the_same_record_ids_are_ten_patients(wh, with_dag_column):
    two_sites(wh, with_dag_column)
    assert wh.ingest().failures == []
    assert wh.quarantine() == []
    demographics = wh.rows("SELECT patient_key, site, sex FROM raw.redcap_demographics ORDER BY site, _source_row")
    assert demographics == [(key("hugm", str(i)), "hugm", "1") for i in range(1, 6)] + [
        (key("huvr", str(i)), "huvr", "2") for i in range(1, 6)
    ]
    infusions = dict(wh.rows("SELECT patient_key, infusion_date FROM raw.redcap_lymphodepletion_infusion"))
    assert len(infusions) == 10
    assert infusions[key("huvr", "3")] == date(2024, 3, 3) and infusions[key("hugm", "3")] == date(2024, 5, 13)


def test_each_sites_manifest_joins_its_own_patients(wh):
    two_sites(wh, with_dag_column=True)
    wh.ingest()
    for site in ("HUVR", "hugm"):  # the lab's folder in capitals, or as REDCap spells the group
        wh.write(
            f"{MANIFESTS}/{site}/2024-06_CART-DETECT-v2.csv",
            MANIFEST_HEADER + f"{site}_1.fcs,1,peripheral blood,2024-06-02,D7,BD FACSLyric,CART-DETECT-v2,2024-06-02\n",
        )
    wh.write(
        f"{MANIFESTS}/with_site_column.csv",
        MANIFEST_HEADER.replace("\n", ",site\n")
        + "col_2.fcs,2,peripheral blood,2024-06-02,D7,BD FACSLyric,CART-DETECT-v2,2024-06-02, HUGM \n",
    )
    assert wh.ingest("cytometry_manifest").failures == []
    samples = wh.rows("SELECT tube_key, patient_key FROM raw.cytometry_samples ORDER BY 1")
    assert samples == sorted(
        [
            (tube("HUVR_1.fcs", "huvr"), key("huvr", "1")),
            (tube("col_2.fcs", "hugm"), key("hugm", "2")),
            (tube("hugm_1.fcs", "hugm"), key("hugm", "1")),
        ]
    )
    patients = {k for (k,) in wh.rows("SELECT patient_key FROM raw.redcap_demographics")}
    assert {k for _, k in samples} <= patients


def test_the_same_fcs_file_name_at_two_sites_is_two_tubes(wh):
    """Each lab numbers its own accessions: A0000001_T1.fcs at HUVR and at HUGM are two tubes, and
    each site's statistics join that site's manifest row."""
    two_sites(wh, with_dag_column=True)
    wh.ingest()
    for site, record, count in (("HUVR", "1", 100), ("HUGM", "2", 200)):
        wh.write(
            f"{MANIFESTS}/{site}/m.csv",
            MANIFEST_HEADER
            + f"A0000001_T1.fcs,{record},peripheral blood,2024-06-02,D7,BD FACSLyric,CART-DETECT-v2,2024-06-02\n",
        )
        wh.write(f"cytometry/statistics/{site}/s.csv", f"Sample,Leukocytes | Count\nA0000001_T1.fcs,{count}\n")
    wh.ingest("cytometry_manifest")
    wh.ingest("cytometry_statistics")
    joined = wh.rows(
        "SELECT m.patient_key, s.value FROM raw.cytometry_samples m JOIN raw.cytometry_population_stats s "
        "USING (tube_key) ORDER BY s.value"
    )
    assert joined == [(key("huvr", "1"), 100.0), (key("hugm", "2"), 200.0)]
    assert wh.rows("SELECT DISTINCT tube_key FROM raw.cytometry_population_stats ORDER BY 1") == sorted(
        [(tube("A0000001_T1.fcs", "huvr"),), (tube("A0000001_T1.fcs", "hugm"),)]
    )


def test_statistics_without_a_site_are_quarantined(wh):
    wh.write("cytometry/statistics/s.csv", "Sample,Leukocytes | Count\nA.fcs,1\n")  # no folder, no CARTWH_SITE
    report = wh.ingest("cytometry_statistics")
    assert report.rows_quarantined == 1 and wh.rows("SELECT count(*) FROM raw.cytometry_population_stats") == [(0,)]
    assert wh.quarantine()[0][3].startswith("no site: the landing declares none")


def test_a_record_moving_to_another_data_access_group_is_reported_not_rekeyed(wh):
    """One multi-site project (exports directly in redcap/): record 2 turns up under site b."""
    wh.export("cart_monitoring_20240601.csv", [base_row(str(i), "a", "2", "2024-03-01") for i in (1, 2, 3)])
    wh.ingest()
    wh.export(
        "cart_monitoring_20240701.csv", [base_row("2", "b", "1", "2024-04-01"), base_row("4", "b", "1", "2024-04-02")]
    )
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 1
    assert wh.quarantine() == [
        (
            "redcap/cart_monitoring_20240701.csv",
            2,
            "redcap_data_access_group",
            "the record was at site 'a' and now is at site 'b' (moved between data access groups?): set aside, "
            "not re-keyed; check the record's data access group in REDCap",
            "b",
            key("a", "2"),
        )
    ]
    patients = wh.rows("SELECT patient_key, site, sex FROM raw.redcap_demographics ORDER BY _load_id, _source_row")
    assert patients == [
        (key("a", "1"), "a", "2"),
        (key("a", "2"), "a", "2"),
        (key("a", "3"), "a", "2"),
        (key("b", "4"), "b", "1"),
    ]


def test_a_record_under_two_groups_in_one_delivery_keeps_the_first(wh):
    wh.export("x_1.csv", [base_row("7", "a", "2", "2024-03-01")])
    wh.export("x_2.csv", [base_row("7", "b", "1", "2024-03-01")])  # same header: one batch
    wh.ingest()
    assert [(f, r, reason[:45]) for f, r, _, reason, _, _ in wh.quarantine()] == [
        ("redcap/x_2.csv", 2, "the record was at site 'a' and now is at site")
    ]
    assert wh.rows("SELECT patient_key, site FROM raw.redcap_demographics") == [(key("a", "7"), "a")]


def test_a_row_without_a_site_is_quarantined_and_cartwh_site_names_a_single_site(wh, monkeypatch):
    header = [c for c in HEADER if c != "redcap_data_access_group"]
    wh.export("flat.csv", [base_row("1", "", "2", "2024-03-01")], header)
    # the column is there, but empty ("dag.csv" would be the project's DAGs, as the REDCap pull names them)
    wh.export("blank_dag.csv", [base_row("2", "", "2", "2024-03-01")])
    wh.ingest()
    reason = (
        "no site: the row has no redcap_data_access_group and the landing declares none (a folder named after "
        "the site below the source's folder, or CARTWH_SITE)"
    )
    assert wh.quarantine() == [
        ("redcap/blank_dag.csv", 2, "redcap_data_access_group", reason, None, None),
        ("redcap/flat.csv", 2, "redcap_data_access_group", reason, None, None),
    ]
    monkeypatch.setenv("CARTWH_SITE", "HUVR")
    wh.export("flat.csv", [base_row("1", "", "2", "2024-03-01"), base_row("3", "", "2", "2024-03-01")], header)
    wh.ingest()
    assert wh.rows("SELECT patient_key, site FROM raw.redcap_demographics") == [
        (key("huvr", "1"), "huvr"),
        (key("huvr", "3"), "huvr"),
    ]


def test_a_site_name_that_could_be_confused_is_refused(wh):
    wh.export("a.csv", [base_row("1", "site a/b", "2", "2024-03-01")])
    wh.ingest()
    assert [(r[2], r[3], r[4]) for r in wh.quarantine()] == [
        ("redcap_data_access_group", "not a site name (letters, digits, '_', '-', '.')", "site a/b")
    ]


# --- two projects, one site (issue 28, item 8) ----------------------------------------------------


def _project_conflict(site: str, first: str, then: str) -> str:
    return (
        f"the record of site '{site}' also comes from another REDCap project, {first}, than this file's, {then} "
        "(folders that differ only by case, or a site's own project beside its data access group of another "
        "project, are one site): its versions conflict, so these rows are set aside, not merged; keep the site's "
        "records in one project"
    )


@pytest.mark.parametrize(
    "first, then, dag, projects",
    [
        ("HVH/cart_hvh_20240601.csv", "hvh/cart_hvh_20240602.csv", "", ("redcap/HVH", "redcap/hvh")),
        ("central_20240601.csv", "hvh/own_project_20240602.csv", "hvh", ("redcap/", "redcap/hvh")),
    ],
    ids=["folders differing by case", "site folder beside its data access group"],
)
def test_two_projects_of_one_site_are_quarantined_not_merged(wh, first, then, dag, projects):
    """Record ids 1-3 in both, the sexes differing: each patient would have two demographics versions."""
    wh.export(first, [base_row(str(i), dag, "2", "2024-03-01") for i in (1, 2, 3)])
    wh.export(then, [base_row(str(i), "", "1", "2024-03-01") for i in (1, 2, 3)])
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 3
    conflict = _project_conflict("hvh", *projects)
    assert wh.quarantine() == [
        (f"redcap/{then}", i + 1, "record_id", conflict, None, key("hvh", str(i))) for i in (1, 2, 3)
    ]
    assert wh.rows("SELECT patient_key, sex FROM raw.redcap_demographics ORDER BY _source_row") == [
        (key("hvh", str(i)), "2") for i in (1, 2, 3)
    ]
    # The first project's next export is its own version: it loads.
    wh.export(first.replace("0601", "0701"), [base_row("1", dag, "1", "2024-03-01")])
    assert wh.ingest().rows_quarantined == 0
