"""Every open data-quality problem as ONE root cause with its knock-on effects grouped under it.

A root cause is something someone can fix at the source: a row set aside at ingestion (file,
row, column, reason), or a row a raw batch check flagged (a CRP ten times too high, an infusion
before lymphodepletion). Knock-ons are what follows from it downstream and goes away with it:
the tubes of a patient whose demographics row was quarantined are "unknown patient" warnings in
every manifest that names them; a patient whose marrow or labs were set aside is unscored in the
marts. They are listed under their cause, never as issues of their own. What has no cause
upstream is its own root cause: a record id in the lab's manifest that REDCap does not have, a
patient left out of a mart with the reason the mart gives, a mart check without failing rows, the
failing rows of a dbt test that warned or failed (cartwh.quality.dbt_tests: the cross-check of a lab's
absolute counts, a bead lot, a statistic's precision) when they name a patient or a tube. Two
current cytometry files that disagree (a tube's statistic with two numbers, one FCS file assigned
to two patients: the dbt model int__cytometry_delivery_conflicts) are one root cause per tube and
what they disagree on, every file and row that delivered it listed beneath: all of them are set
aside from the marts until one file is corrected.

Grouping rules (written once, here):
- quarantine rows of one (file version, row, column) are one issue (a birth date typed as a lab
  date is both "not a date" and "holds the record's birth date");
- an unknown-patient tube belongs to the quarantined demographics row of the same pseudonym, if
  any; tubes of a patient whose demographics have landed since are resolved; the rest are one
  issue per record id;
- a failing mart row belongs to the first root cause of the same patient (by file and row); when
  the patient has several, the knock-on names the others as possible causes too;
- a dbt test's failing rows likewise; those of a patient with no other cause are one issue per
  (test, patient), each failing row (tube) a knock-on under it. A test whose failing rows name no
  patient or tube (dbt's generic tests return only the column they test) is no issue here: both
  reports list every test that warned or failed, with its failing-row count.

Issues carry record ids (from the restricted record map, cartwh.warehouse.record_ids) for the data
manager's report; `analyst_groups` drops them, and everything else that can carry an identifier
(file, row, value), for the analysts' summary. An issue's `key` is what matches the same problem
on the next night (record, form, instance and field; a file and row only when no record is known).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path

import duckdb
import pandas as pd

from cartwh.quality.dbt_tests import dbt_test_rows
from cartwh.warehouse.record_ids import read_record_map
from cartwh.warehouse.schema import has_table as schema_has_table

QUARANTINED, FLAGGED, UNKNOWN_PATIENT, MART = "quarantined", "flagged", "unknown patient", "mart"
DBT_TEST = "dbt test"
CONFLICT = "conflict"
KIND_LABELS = {
    QUARANTINED: "set aside at ingestion",
    FLAGGED: "flagged by a check of the exports",
    UNKNOWN_PATIENT: "tube of a patient not in REDCap",
    MART: "left out of or flagged in a mart",
    DBT_TEST: "flagged by a check of the derived data",
    CONFLICT: "set aside: two current exports disagree",
}
UNKNOWN_PATIENT_CHECK = ("raw_cytometry_samples", "known_patient")  # expectations/suites/raw_cytometry_samples.yml
# The reason a mart already gives beside a NULL it was flagged for (column -> mart, reason expression).
MART_REASONS = {
    "hematotox_score": ("marts.hematotox_scores", "'missing: ' || missing_components"),
    "tumor_burden_transition": ("marts.tumor_burden_transitions", "'missing: ' || transition_missing"),
    "auc_14": ("marts.car_t_expansion", "auc_null_reason"),
}
_FORM = re.compile(r"\s*\[form ([^\]]+)\]$")
UNMAPPED_RECORD = "a tube names a record whose site's project has no mapping onto the study's dictionary yet"

OPEN_QUARANTINE = """
    SELECT q.file, q."row", q.column_name, list(DISTINCT q.reason ORDER BY q.reason) AS reasons,
           any_value(q.value) AS value, any_value(q.patient_key) AS patient_key, l.sha256, l.source
    FROM raw.quarantine AS q JOIN raw.landed_files AS l USING (load_id)
    WHERE l.superseded_by IS NULL
    GROUP BY q.load_id, q.file, q."row", q.column_name, l.sha256, l.source ORDER BY q.file, q."row", q.column_name
"""
# A raw batch's failing row is open while the file version the check saw is still current.
OPEN_FLAGGED = """
    SELECT f.suite, f.expectation, f.column_name, f.severity, f.why, f.patient_key, f.file, f.source_row, f.value,
           l.load_id, e.guards
    FROM quality.failing_rows AS f
    JOIN quality.validated_loads AS v ON v.suite = f.suite AND v.run_id = f.run_id
    JOIN raw.landed_files AS l ON l.load_id = v.load_id AND l.file = f.file AND l.superseded_by IS NULL
    LEFT JOIN (SELECT DISTINCT suite, guards FROM quality.expectation_results) AS e ON e.suite = f.suite
    WHERE f.suite LIKE 'raw%'
    ORDER BY f.file, f.source_row, f.suite
"""
MART_ROWS = """
    SELECT suite, expectation, column_name, severity, why, patient_key, value FROM quality.failing_rows
    WHERE run_id = ? AND suite NOT LIKE 'raw%' ORDER BY suite, column_name, patient_key
"""
MART_TABLE_FAILURES = """
    SELECT r.suite, r.expectation, r.column_name, r.severity, r.why, r.unexpected_count, r.observed
    FROM quality.expectation_results AS r
    WHERE r.run_id = ? AND NOT r.success AND r.scope = 'table' AND NOT EXISTS (
        SELECT 1 FROM quality.failing_rows f WHERE f.run_id = r.run_id AND f.suite = r.suite
        AND f.expectation = r.expectation AND f.column_name = r.column_name)
    ORDER BY r.severity, r.suite
"""
LATEST_RUN = "SELECT run_id, max(checked_at) FROM quality.expectation_results GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
CONFLICTS = """
    SELECT c.source_name AS source, c.tube_key, c.item, c.patient_key, c.delivered, l.file, c._source_row AS row
    FROM intermediate.int__cytometry_delivery_conflicts AS c JOIN raw.landed_files AS l ON l.load_id = c._load_id
    ORDER BY c.source_name, c.tube_key, c.item, l.file, c._source_row
"""


@dataclass
class Consequence:
    """A knock-on effect: where it shows and what it says (no identifier but the pseudonym)."""

    what: str
    severity: str
    patient_key: str | None = None
    file: str | None = None
    row: int | None = None
    value: str | None = None


@dataclass
class Issue:
    kind: str
    title: str  # what is wrong, written by the code: no record id, file, row or value
    severity: str  # quarantined | warn | blocking
    form: str | None = None
    field: str | None = None
    patient_key: str | None = None
    site: str | None = None
    record_id: str | None = None
    event: str | None = None
    instance: str | None = None
    file: str | None = None
    row: int | None = None
    value: str | None = None
    source: str | None = None
    check: str | None = None  # the dbt test that flagged it (never shown to the data manager: `advice` is)
    advice: str | None = None  # what to do, when the check says it in plain words
    consequences: list[Consequence] = default(default_factory=list)

    @property
    def record(self) -> str:
        """How the data manager finds it in REDCap: record, site, event, instance."""
        if not self.record_id:
            return ""
        where = [f"site {self.site}"] if self.site else []
        where += [f"event {self.event}"] if self.event else []
        where += [f"instance {self.instance}"] if self.instance else []
        return f"record {self.record_id}" + (f" ({', '.join(where)})" if where else "")

    @property
    def blocks_the_night(self) -> bool:
        return self.severity == "blocking" or any(c.severity == "blocking" for c in self.consequences)

    @property
    def place(self) -> str:
        """Where to look, in a few words: the record and form, or the file and row."""
        if self.record_id:
            return self.record + (f", form {self.form}" if self.form else "")
        return f"{self.file} row {self.row}" if self.file else "marts (latest run)"

    @property
    def key(self) -> str:
        """The same problem on the next night has the same key (rows may move in a new export)."""
        reason = re.sub(r"\d+", "N", self.title)
        if self.kind == UNKNOWN_PATIENT:
            return "|".join([self.kind, self.site or "", self.record_id or self.patient_key or ""])
        if self.record_id:
            return "|".join(
                [
                    self.kind,
                    self.site or "",
                    self.record_id,
                    self.form or "",
                    self.event or "",
                    self.instance or "",
                    self.field or "",
                    reason,
                ]
            )
        return "|".join(
            [self.kind, self.file or "", str(self.row or ""), self.field or "", self.patient_key or "", reason]
        )

    @property
    def action(self) -> str:
        return _action(self)

    @property
    def cause(self) -> tuple:
        """What the issues of one root cause share: the dbt test, or the kind, form, field and
        reason (numbers aside); for an unknown record, the lab's manifests."""
        if self.kind == DBT_TEST:
            return (self.kind, self.check or self.title)
        if self.kind == UNKNOWN_PATIENT:
            return (self.kind, self.source or "", self.title)
        return (self.kind, self.source or "", self.form or "", self.field or "", re.sub(r"\d+", "N", self.title))


@dataclass
class Entry:
    """One root cause on the data manager's page: every issue it explains (one per record, tube
    or row: a lab's rounding warned for 397 records is one entry of 397), what to do about all of
    them, and the issues listed beneath."""

    issues: list[Issue]

    @property
    def first(self) -> Issue:
        return self.issues[0]

    @property
    def key(self) -> str:
        return "|".join(str(part) for part in self.first.cause)

    @property
    def title(self) -> str:
        return self.first.title if len(self.issues) > 1 else f"{self.first.place}: {self.first.title}"

    @property
    def action(self) -> str:
        return _action(self.first, each=len(self.issues) > 1)

    @property
    def severity(self) -> str:
        order = ("blocking", "warn", "quarantined")
        return min((i.severity for i in self.issues), key=lambda s: order.index(s) if s in order else len(order))

    @property
    def blocks_the_night(self) -> bool:
        return any(i.blocks_the_night for i in self.issues)

    @property
    def counted(self) -> str:
        """How many, of what: '397 records', '12 rows', '3 patients'."""
        n = len(self.issues)
        kinds = (("record", "record_id"), ("patient", "patient_key"), ("row", "file"))
        what = next((w for w, a in kinds if all(getattr(i, a) for i in self.issues)), "case")
        return f"{n:,} {what}{'s' if n != 1 else ''}"


def entries(issues: list[Issue]) -> list[Entry]:
    """The issues as one entry per root cause (`Issue.cause`), in the order their first issue
    comes; what blocks the night first."""
    grouped: dict[tuple, Entry] = {}
    for issue in issues:
        grouped.setdefault(issue.cause, Entry([])).issues.append(issue)
    return sorted(grouped.values(), key=lambda e: not e.blocks_the_night)


def has_table(con, schema: str, table: str) -> bool:
    return schema_has_table(con, f"{schema}.{table}")  # the one probe: cartwh.warehouse.schema


def _rows(con, sql: str, params=None) -> list[dict]:
    frame = con.execute(sql, params or []).df().astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def root_causes(con: duckdb.DuckDBPyConnection, archive: Path | None) -> list[Issue]:
    """Every open issue of the working warehouse, knock-ons grouped under their cause; with record
    ids and REDCap coordinates from the archive's record map (none for `archive=None`)."""
    patients, locations = read_record_map(archive) if archive is not None else (None, None)
    if patients is None:
        return _root_causes(con, {}, {})
    return _root_causes(
        con,
        {r.patient_key: (r.site, r.record_id) for r in patients.itertuples()},
        {(r.sha256, int(r.row)): r for r in locations.itertuples()},
    )


def _root_causes(con, records: dict, located: dict) -> list[Issue]:
    issues = _named_twice(_quarantined(con, records, located)) + _conflicts(con, records)
    has_checks = has_table(con, "quality", "failing_rows") and has_table(con, "quality", "validated_loads")
    flagged = _rows(con, OPEN_FLAGGED) if has_checks else []
    issues += [_flagged(con, r, records) for r in flagged if (r["suite"], r["column_name"]) != UNKNOWN_PATIENT_CHECK]
    by_patient: dict[str, list[Issue]] = {}
    for issue in sorted(issues, key=lambda i: (i.file or "", i.row or 0)):
        if issue.patient_key:
            by_patient.setdefault(issue.patient_key, []).append(issue)
    issues += _unknown_patients(
        con, [r for r in flagged if (r["suite"], r["column_name"]) == UNKNOWN_PATIENT_CHECK], by_patient, records
    )
    latest = latest_run(con) if has_checks else None
    if latest:
        issues += _mart_issues(con, latest[0], by_patient, records)
    return issues + _dbt_test_issues(con, by_patient, records)


def latest_run(con) -> tuple[str, object] | None:
    """(run id, when it checked) of the latest run with check results, or None."""
    if not has_table(con, "quality", "expectation_results"):
        return None
    found = con.execute(LATEST_RUN).fetchall()
    return found[0] if found else None


def _with_record(issue: Issue, records: dict) -> Issue:
    if issue.patient_key in records:
        issue.site, issue.record_id = records[issue.patient_key]
    return issue


def _quarantined(con, records: dict, located: dict) -> list[Issue]:
    issues = []
    for r in _rows(con, OPEN_QUARANTINE):
        reasons = [_FORM.sub("", reason) for reason in r["reasons"]]
        forms = [m.group(1) for reason in r["reasons"] if (m := _FORM.search(reason))]
        where = located.get((r["sha256"], int(r["row"])))
        issue = _with_record(
            Issue(
                QUARANTINED,
                "; ".join(reasons),
                "quarantined",
                form=forms[0] if forms else None,
                field=r["column_name"],
                patient_key=r["patient_key"],
                file=r["file"],
                row=int(r["row"]),
                value=r["value"],
                source=r["source"],
            ),
            records,
        )
        if where is not None:
            issue.record_id = issue.record_id or where.record_id
            issue.event = where.event
            issue.instance = where.instance if where.instrument else None  # a repeating instrument's instance
            issue.form = issue.form or where.instrument
        issues.append(issue)
    return issues


def _named_twice(issues: list[Issue]) -> list[Issue]:
    """An identifier in an FCS file name is in the lab's manifest and in its statistics file of the
    same name (the software names both from the FCS file): the statistics row is a knock-on of the
    manifest row, fixed by the same rename."""
    manifests = {(i.file, i.title): i for i in issues if i.file and i.file.startswith("cytometry/manifests/")}
    kept = []
    for issue in issues:
        twin = (issue.file or "").replace("cytometry/statistics/", "cytometry/manifests/", 1), issue.title
        if (
            issue.file
            and issue.file.startswith("cytometry/statistics/")
            and "holds the record's" in issue.title
            and twin in manifests
        ):
            manifests[twin].consequences.append(
                Consequence(
                    f"{issue.field}: {issue.title} (the same FCS file name)",
                    issue.severity,
                    file=issue.file,
                    row=issue.row,
                )
            )
        else:
            kept.append(issue)
    return kept


def _instance(con, guards: str | None, load_id: int, row: int) -> str | None:
    """The repeating instance of a flagged REDCap row, from the raw table the check guards."""
    if not guards or not guards.startswith("raw/redcap_"):
        return None
    table = guards.split("/", 1)[1]
    columns = {
        c[0]
        for c in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' AND table_name = ?", [table]
        ).fetchall()
    }
    if "redcap_repeat_instance" not in columns:
        return None
    found = con.execute(
        f'SELECT any_value(redcap_repeat_instance) FROM raw."{table}" WHERE _load_id = ? AND _source_row = ?',
        [load_id, row],
    ).fetchall()
    return str(found[0][0]) if found and found[0][0] is not None else None


def _conflicts(con, records: dict) -> list[Issue]:
    """One issue per tube and what two current cytometry files disagree on; each delivery beneath it."""
    if not con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = 'intermediate' "
        "AND table_name = 'int__cytometry_delivery_conflicts'"
    ).fetchall():  # a view, built by dbt
        return []
    issues: dict[tuple, Issue] = {}
    for r in _rows(con, CONFLICTS):
        statistic = r["source"] != "cytometry_manifest"  # a lab's table or a gated FCS file
        issue = issues.get((r["source"], r["tube_key"], r["item"]))
        if issue is None:
            title = (
                f"two current files give different values for {r['item']} of one tube"
                if statistic
                else f"two current manifests describe one tube differently ({r['item']})"
            )
            issue = issues[(r["source"], r["tube_key"], r["item"])] = _with_record(
                Issue(
                    CONFLICT,
                    title + ": every delivery of it is set aside",
                    "quarantined",
                    field=r["item"] if statistic else "fcs_file",
                    patient_key=r["patient_key"],
                    file=r["file"],
                    row=int(r["row"]),
                    source=r["source"],
                ),
                records,
            )
        whose = records.get(r["patient_key"])
        said = f"record {whose[1]} (site {whose[0]})" if whose and r["item"] == "patient_key" else r["delivered"]
        issue.consequences.append(
            Consequence(
                f"tube key {r['tube_key']}: {r['item']} = {said}",
                "quarantined",
                r["patient_key"],
                r["file"],
                int(r["row"]),
                r["delivered"],
            )
        )
    return list(issues.values())


def _flagged(con, r: dict, records: dict) -> Issue:
    guards = r["guards"]
    form = guards.split("/", 1)[1].removeprefix("redcap_") if guards and guards.startswith("raw/redcap_") else None
    row = int(r["source_row"]) if r["source_row"] is not None else None
    issue = Issue(
        FLAGGED,
        r["why"],
        r["severity"],
        form=form,
        field=r["column_name"],
        patient_key=r["patient_key"],
        file=r["file"],
        row=row,
        value=r["value"],
        source="redcap" if form else None,
        instance=_instance(con, guards, int(r["load_id"]), row) if row else None,
    )
    return _with_record(issue, records)


def _tube(r: dict, what: str) -> Consequence:
    row = int(r["source_row"]) if r["source_row"] is not None else None
    return Consequence(what, r["severity"], r["patient_key"], r["file"], row, r["value"])


def _unknown_patients(con, rows: list[dict], by_patient: dict, records: dict) -> list[Issue]:
    known, unmapped = set(), set()
    if rows and has_table(con, "raw", "redcap_demographics"):
        known = {
            k
            for (k,) in con.execute(
                "SELECT DISTINCT d.patient_key FROM raw.redcap_demographics d JOIN raw.landed_files l "
                "ON l.load_id = d._load_id AND l.superseded_by IS NULL"
            ).fetchall()
        }
        unmapped = _in_site_tables(con)
    issues: dict[str, Issue] = {}
    for r in rows:
        key = r["patient_key"]
        cause = next((i for i in by_patient.get(key, []) if i.form == "demographics"), None)
        if cause is not None:
            cause.consequences.append(
                _tube(r, "tube of this record: unknown patient, joins no mart until its demographics row loads")
            )
        elif key not in known:  # a record whose demographics landed since is no longer unknown
            if key not in issues:
                issues[key] = _with_record(
                    Issue(
                        UNKNOWN_PATIENT,
                        UNMAPPED_RECORD if key in unmapped else "a tube names a record that REDCap does not have",
                        r["severity"],
                        field="record_id",
                        patient_key=key,
                        file=r["file"],
                        row=int(r["source_row"]),
                        source="cytometry_manifest",
                    ),
                    records,
                )
            issues[key].consequences.append(_tube(r, "tube not joined to any mart"))
    return list(issues.values())


def _in_site_tables(con) -> set[str]:
    """The patients of the sites' own project tables (raw.redcap_site_*): in REDCap, and in no mart
    until their site's mapping translates them."""
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND starts_with(table_name, 'redcap_site_')"
    ).fetchall()
    union = " UNION ".join(f'SELECT patient_key FROM raw."{t}"' for (t,) in tables)
    return {k for (k,) in con.execute(union).fetchall()} if union else set()


def _mart_reasons(con, column: str) -> dict[str, str]:
    if column not in MART_REASONS:
        return {}
    table, expression = MART_REASONS[column]
    schema, name = table.split(".")
    if not has_table(con, schema, name):
        return {}
    return dict(con.execute(f"SELECT patient_key, {expression} FROM {table} WHERE {column} IS NULL").fetchall())


def _mart_issues(con, run_id: str, by_patient: dict, records: dict) -> list[Issue]:
    issues: list[Issue] = []
    reasons: dict[str, dict[str, str]] = {}
    for r in _rows(con, MART_ROWS, [run_id]):
        column, key = r["column_name"], r["patient_key"]
        if column not in reasons:
            reasons[column] = _mart_reasons(con, column)
        why = reasons[column].get(key)
        where = f"{r['suite']} {r['expectation']}({column})"
        what = f"{where}{': ' + why if why else ''}: {r['why']}"
        causes = by_patient.get(key, [])
        if causes:
            also = "; ".join(f"{c.field} row {c.row}" for c in causes[1:])
            causes[0].consequences.append(
                Consequence(
                    what + (f" (may follow from {also} too)" if also else ""), r["severity"], key, value=r["value"]
                )
            )
        else:
            title = f"{column} {why}" if why else f"{column}: {r['why']}"
            issue = _with_record(
                Issue(MART, title, r["severity"], field=column, patient_key=key, value=r["value"]), records
            )
            issue.consequences.append(Consequence(what, r["severity"], key, value=r["value"]))
            issues.append(issue)
    for r in _rows(con, MART_TABLE_FAILURES, [run_id]):
        observed = (
            f"{r['unexpected_count']} unexpected" if r["unexpected_count"] is not None else f"observed {r['observed']}"
        )
        issues.append(
            Issue(MART, f"{r['why']} ({r['column_name']}: {observed})", r["severity"], field=r["column_name"])
        )
    return issues


def _dbt_test_issues(con, by_patient: dict, records: dict) -> list[Issue]:
    issues: dict[tuple[str, str], Issue] = {}
    rows = dbt_test_rows(con) if has_table(con, "raw", "cytometry_samples") else []
    for r in rows:
        key, tube = r["patient_key"], r["tube_key"]
        if tube:
            day = f"{r['collection_date']:%Y-%m-%d}" if r["collection_date"] is not None else "date unknown"
            what = f"{r['panel'] or 'tube'} tube collected {day} ({r['timepoint'] or 'no time point'}, tube key {tube})"
        else:
            what = f"a row of {r['models']}"
        what += f": {r['meaning']}"
        causes = by_patient.get(key, []) if key else []
        if causes:
            causes[0].consequences.append(Consequence(what, r["severity"], key))
            continue
        if (r["test"], key or tube) not in issues:
            issues[(r["test"], key or tube)] = _with_record(
                Issue(
                    DBT_TEST,
                    r["meaning"],
                    r["severity"],
                    patient_key=key,
                    source="cytometry" if tube else None,
                    check=r["test"],
                    advice=r.get("action"),
                ),
                records,
            )
        issues[(r["test"], key or tube)].consequences.append(Consequence(what, r["severity"], key))
    return list(issues.values())


def _action(issue: Issue, each: bool = False) -> str:
    """What to do, in one sentence, with where to do it; `each`: for every issue of its root
    cause, listed beneath it (Entry), so no one record, row or value is named."""
    record = issue.record or (f"row {issue.row} of {issue.file}" if issue.file else "")
    if each:
        record = "each record listed below" if issue.record_id else "each row listed below"
    at = f"{issue.field} in {issue.form} of {record}" if issue.form else f"{issue.field} of {record}"
    value = (
        f" (exported '{issue.value}': {issue.title})" if issue.value is not None and not each else f" ({issue.title})"
    )
    lab = (issue.source or "").startswith("cytometry")
    if issue.kind == UNKNOWN_PATIENT and issue.title == UNMAPPED_RECORD:
        who = "the records listed below are" if each else f"{issue.record or 'the record'} is"
        return (
            f"{who} in REDCap, in its site's own project, which no mapping translates yet: its tubes join no "
            "mart until the site's mapping is in place ('Sites awaiting their mapping' says what it must cover)"
        )
    if issue.kind == UNKNOWN_PATIENT:
        who = "the records listed below are" if each else f"{issue.record or 'a record id'} is"
        where = "the lab's manifests" if each else f"{issue.file} (row {issue.row})"
        return (
            f"{who} named in {where} but REDCap has no such record: correct the record id in the lab's system "
            "or create the record in REDCap, then export again"
        )
    if issue.kind == CONFLICT:
        files = sorted({c.file for c in issue.consequences})
        return (
            f"ask the laboratory which of {', '.join(files)} is right (rows listed below); have the wrong one corrected "
            "and exported again under its own name, so that it supersedes the version that disagrees"
        )
    if issue.kind == DBT_TEST:
        if issue.advice:
            return issue.advice
        if record and issue.source == "cytometry":
            return (
                f"ask the laboratory which values of the tubes of {record} are right ({issue.title}); have them "
                "corrected in its system and exported again"
            )
        if record:
            return f"check {record} in REDCap ({issue.title}); correct it, then re-export"
        return f"find the patient {issue.patient_key or ''} of the flagged rows (the record map has no record for it)"
    if issue.kind == MART:
        if issue.record:
            return f"check in REDCap what {record} lacks for {issue.field} ({issue.title}); enter it if it was measured"
        return f"see this check's page in the Data Docs: {issue.title}"
    if issue.kind == FLAGGED:
        return f"check {at} in REDCap{value}; correct it, then re-export"
    if "holds the record's" in issue.title:
        what = issue.title.split("holds the record's ", 1)[1].split(";")[0]
        if lab:
            return (
                f"rename the FCS file of {record} in the lab's software without the {what}, then export its "
                "manifest and statistics again"
            )
        return (
            f"remove the patient's {what} from {at} in REDCap (identifiers must never be typed there), then re-export"
        )
    files = "the files listed below" if each else issue.file
    if issue.title.startswith("exact duplicate of row"):
        of = f" ({issue.place})" if issue.record_id else ""
        row = "each listed row" if each else f"row {issue.row}{of}"
        return f"export {files} again: {row} is an {issue.title} (the copy was set aside)"
    if issue.title.startswith("malformed row"):
        row = "each listed row" if each else f"row {issue.row}"
        return (
            f"export {files} again from its software: {row} is cut short ({issue.title}), as by a transfer that stopped"
        )
    if issue.row == 1:
        return f"{files}: column {issue.field}: {issue.title}; update the export or the data dictionary"
    if lab:
        return f"correct {at}{value} in the lab's software, then export it again"
    return f"correct {at} in REDCap{value}, then re-export"


def analyst_groups(issues: list[Issue]) -> pd.DataFrame:
    """The analysts' view: root causes grouped by what and where (form, field, reason), with
    counts and pseudonyms; no record id, file, row or value."""
    rows = [
        dict(
            kind=KIND_LABELS[i.kind],
            form=i.form or "",
            field=i.field or "",
            reason=re.sub(r"\brow \d+", "another row", i.title),
            severity=i.severity,
            consequences=len(i.consequences),
            patient_key=i.patient_key,
        )
        for i in issues
    ]
    columns = ["kind", "form", "field", "reason", "severity", "issues", "consequences", "patients"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    return (
        frame.groupby(["kind", "form", "field", "reason", "severity"], sort=True)
        .agg(
            issues=("reason", "size"),
            consequences=("consequences", "sum"),
            patients=("patient_key", lambda keys: ", ".join(sorted({k for k in keys if k}))),
        )
        .reset_index()[columns]
    )
