"""The data-quality view analysts get in the published copy (schema `quality`): counts per
check, expectation, severity, reason and pseudonymous patient key, and nothing else.

Left out on purpose, because any of them can carry an identifier: file names (labs put MRNs in
FCS file names, exports carry dates and names of people), source row numbers (with the archive
they point back at a patient's line), the failing or quarantined values themselves (a birth date
typed into the wrong field), and GX's observed value unless it is a number (a mean, a fraction;
a list of distinct values is dropped). What remains is written by the code or the suites (suite,
expectation, column, severity, why, reason) or is a pseudonym. The full detail (file, row,
value), which the data manager needs to find and fix an export, stays in the working warehouse.

Each entry: (published table, working tables it reads, query with {db} for the working database).
"""

from __future__ import annotations

DEIDENTIFIED_QUALITY: list[tuple[str, tuple[str, ...], str]] = [
    (
        "check_results",
        ("quality.expectation_results",),
        """
        SELECT run_id, checked_at, suite, guards, scope, rows_validated, expectation, column_name, severity, why,
               success, element_count, unexpected_count, TRY_CAST(observed AS DOUBLE) AS observed_number
        FROM "{db}".quality.expectation_results
    """,
    ),
    # failing_rows keeps at most a capped number of rows per expectation: the full count is
    # check_results.unexpected_count. A raw batch's row counts as open while the file version the
    # check validated is current (the rule of cartwh.quality.root_causes.OPEN_FLAGGED): a newer
    # version of the same file name closes it.
    (
        "failing_rows_per_patient",
        ("quality.failing_rows", "quality.validated_loads", "raw.landed_files"),
        """
        SELECT f.run_id, f.checked_at, f.suite, f.expectation, f.column_name, f.severity, f.why, f.patient_key,
               CASE WHEN f.suite LIKE 'raw%' THEN bool_or(l.load_id IS NOT NULL) END AS in_current_files,
               count(*) AS failing_rows
        FROM "{db}".quality.failing_rows AS f
        LEFT JOIN (SELECT v.suite, v.run_id, l.file, l.load_id FROM "{db}".quality.validated_loads AS v
                   JOIN "{db}".raw.landed_files AS l USING (load_id) WHERE l.superseded_by IS NULL) AS l
               ON l.suite = f.suite AND l.run_id = f.run_id AND l.file = f.file
        GROUP BY f.run_id, f.checked_at, f.suite, f.expectation, f.column_name, f.severity, f.why, f.patient_key
    """,
    ),
    (
        "quarantine_counts",
        ("raw.quarantine", "raw.landed_files"),
        """
        SELECT l.source, q.column_name, q.reason, q.patient_key, l.superseded_by IS NULL AS in_current_files,
               count(*) AS rows_quarantined
        FROM "{db}".raw.quarantine AS q JOIN "{db}".raw.landed_files AS l USING (load_id)
        GROUP BY ALL
    """,
    ),
    # The open issues grouped by root cause (cartwh.quality.root_causes), stored by the publishing step:
    # kind, form, field, reason and counts, patients by pseudonym.
    (
        "root_causes",
        ("quality.root_causes",),
        """
        SELECT kind, form, field, reason, severity, issues, consequences, patients FROM "{db}".quality.root_causes
    """,
    ),
    # The latest dbt build's tests that warned or failed (cartwh.quality.dbt_tests): written by dbt and the
    # tests' own SQL comments; dbt's message and the failing rows' keys stay in the working warehouse.
    (
        "dbt_tests",
        ("quality.dbt_test_results",),
        """
        SELECT run_id, test, models, status, severity, failures, meaning FROM "{db}".quality.dbt_test_results
    """,
    ),
    (
        "files_per_source",
        ("raw.landed_files",),
        """
        SELECT source, count(*) FILTER (WHERE superseded_by IS NULL) AS current_files,
               count(superseded_by) AS superseded_files, sum(rows_loaded)::BIGINT AS rows_loaded,
               sum(rows_quarantined)::BIGINT AS rows_quarantined, max(loaded_at) AS last_loaded_at
        FROM "{db}".raw.landed_files GROUP BY source
    """,
    ),
]
