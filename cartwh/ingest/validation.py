"""Value rules as data, checked in one set-based pass.

Each rule says what a column's non-empty values must be (SQL type, range, allowed codes).
The export's text table is unpivoted to (row, column, value) once, joined to the rules, and
every broken value becomes a problem naming row, column and reason. Problems collect in the
temp table PROBLEMS (load_id, row, scope, column_name, reason, value); a row with a problem in a
scope (a REDCap form, or NULL for the whole row) is quarantined, not loaded, for that scope. A
batch holds many files: every problem and every row is keyed by (load id, row).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from cartwh.contract.dates import DATE_PATTERN, DATETIME_PATTERN, EARLIEST_DATE, latest_date
from cartwh.ingest.csv_reader import ROWS
from cartwh.ingest.errors import Problem
from cartwh.ingest.warehouse import insert_rows, quote, quote_literal

PROBLEMS = "_problems"
VALUES = "_export_values"  # (_load_id, _row, column_name, v): every non-empty cell

_TYPE_LABELS = {
    "DATE": "a date (YYYY-MM-DD)",
    "TIMESTAMP": "a date-time (YYYY-MM-DD HH:MM[:SS])",
    "BIGINT": "an integer",
    "SMALLINT": "an integer",
    "DOUBLE": "a number (with a decimal point)",
    "TIME": "a time (HH:MM[:SS])",
}


# What a valid text value of each type looks like. Casts alone are too lenient: DuckDB rounds
# '2.5' to the integer 3, reads 'NaN' and 'inf' as numbers, and reads 'infinity', 'epoch',
# '2003-10-09 (BC)', '12025-02-09' and '2023/07/02' as dates.
_VALID = {
    "DATE": f"regexp_full_match(trim(x.v), '{DATE_PATTERN}') AND TRY_CAST(trim(x.v) AS DATE) IS NOT NULL",
    "TIMESTAMP": f"regexp_full_match(trim(x.v), '{DATETIME_PATTERN}') AND TRY_CAST(trim(x.v) AS TIMESTAMP) IS NOT NULL",
    "BIGINT": "regexp_full_match(trim(x.v), '[+-]?[0-9]+') AND TRY_CAST(x.v AS BIGINT) IS NOT NULL",
    "SMALLINT": "regexp_full_match(trim(x.v), '[+-]?[0-9]+') AND TRY_CAST(x.v AS SMALLINT) IS NOT NULL",
    "DOUBLE": "coalesce(isfinite(x.number), false)",
    "TIME": "regexp_full_match(trim(x.v), '[0-9]{2}:[0-9]{2}(:[0-9]{2})?') AND TRY_CAST(trim(x.v) AS TIME) IS NOT NULL",
}


@dataclass(frozen=True)
class Rule:
    column: str
    sql_type: str = "VARCHAR"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    scope: str | None = None  # REDCap form the column belongs to; None: the whole row
    hide_value: bool = False  # identifiers: say why, never what
    required: bool = False
    required_where: str | None = None  # SQL on ROWS: the value is required only in rows where this holds
    earliest: dt.date | None = None  # DATE / TIMESTAMP: the plausible window (contract.dates by default)
    latest: dt.date | None = None
    # A text value's form (REDCap's text validations: e-mail, phone, ...), as a regular expression
    # Python and DuckDB read alike, and the validation's name for the reason.
    pattern: str | None = None
    pattern_name: str | None = None


def reset_problems(con: duckdb.DuckDBPyConnection, structural: list[tuple[int, Problem]]) -> None:
    """Start a batch's problems with those found before its values are checked, per load id."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {PROBLEMS} "
        "(load_id BIGINT, row BIGINT, scope VARCHAR, column_name VARCHAR, reason VARCHAR, value VARCHAR)"
    )
    insert_rows(con, PROBLEMS, [(i, p.row, None, p.column, p.reason, p.value) for i, p in structural])


def for_each_file(files, problems: list[Problem]) -> list[tuple[int, Problem]]:
    """Header problems hold for every file of a batch (they share the header)."""
    return [(f.load_id, p) for f in files for p in problems]


def unpivot_values(con: duckdb.DuckDBPyConnection, columns: list[str], sample: str | None = None) -> None:
    """VALUES := one row per non-empty cell of `columns` (plus the sample name, for cytometry)."""
    on = ", ".join(quote(c) for c in columns)
    extra = f", {quote(sample)} AS _sample" if sample else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {VALUES} AS SELECT * FROM "
        f"(UNPIVOT (SELECT _load_id, _row{extra}, {on} FROM {ROWS}) ON {on} INTO NAME column_name VALUE v)"
    )


def _date_window(rule: Rule) -> tuple[dt.date | None, dt.date | None]:
    """A date or date-time rule's plausible window: its own bounds, else the contract's."""
    if rule.sql_type not in ("DATE", "TIMESTAMP"):
        return None, None
    return rule.earliest or EARLIEST_DATE, rule.latest or latest_date()


# A rule's attributes, as the columns of the _rules table check_rules joins (or SQL literals).
_RULE_TYPES = {
    "sql_type": "VARCHAR",
    "minimum": "DOUBLE",
    "maximum": "DOUBLE",
    "choices": "VARCHAR[]",
    "pattern": "VARCHAR",
    "pattern_name": "VARCHAR",
    "earliest": "DATE",
    "latest": "DATE",
}


def _attributes(rule: Rule) -> dict[str, object]:
    earliest, latest = _date_window(rule)
    choices = list(rule.choices) if rule.choices is not None else None
    return dict(
        sql_type=rule.sql_type,
        minimum=rule.minimum,
        maximum=rule.maximum,
        choices=choices,
        pattern=rule.pattern,
        pattern_name=rule.pattern_name,
        earliest=earliest,
        latest=latest,
    )


def rule_sql(rule: Rule, **given: str) -> dict[str, str]:
    """A rule's attributes as SQL literals (for `reason_sql`); `given` replaces some by expressions."""

    def literal(value: object, sql_type: str) -> str:
        if value is None:
            return f"NULL::{sql_type}"
        if isinstance(value, list):
            return "[" + ", ".join(quote_literal(v) for v in value) + f"]::{sql_type}"
        return f"{quote_literal(str(value))}::{sql_type}"

    return {k: given.get(k) or literal(v, _RULE_TYPES[k]) for k, v in _attributes(rule).items()}


def reason_sql(value: str, rule: dict[str, str], number: str | None = None) -> str:
    """Why the non-empty text `value` breaks the rule whose attributes are the SQL expressions
    `rule` (columns of a joined rules table, or `rule_sql` literals, whose checks that cannot
    apply are left out); NULL when it does not. `number`: the value already cast to DOUBLE
    (TRY_CAST), when the caller has it."""
    r, number = rule, number or f"TRY_CAST({value} AS DOUBLE)"
    given = {name: not sql.startswith("NULL::") for name, sql in r.items()}  # a literal NULL: no such check
    types = [t for t in _TYPE_LABELS if r["sql_type"] in ("r.sql_type", f"'{t}'::VARCHAR")]
    whens = [
        (
            given["choices"],
            f"WHEN {r['choices']} IS NOT NULL AND NOT list_contains({r['choices']}, {value}) "
            f"THEN 'not one of the allowed codes (' || array_to_string({r['choices']}, ', ') || ')'",
        ),
        *(
            (
                True,
                f"WHEN {r['sql_type']} = '{t}' AND NOT ({_VALID[t].replace('x.number', number).replace('x.v', value)}) "
                f"THEN 'not {_TYPE_LABELS[t]}'",
            )
            for t in types
        ),
        (
            given["pattern"],
            f"WHEN {r['pattern']} IS NOT NULL AND NOT regexp_full_match(trim({value}), {r['pattern']}) "
            f"THEN 'not a valid value of its text validation (' || {r['pattern_name']} || ')'",
        ),
        (given["minimum"], f"WHEN {number} < {r['minimum']} THEN 'below the minimum ' || {r['minimum']}"),
        (given["maximum"], f"WHEN {number} > {r['maximum']} THEN 'above the maximum ' || {r['maximum']}"),
        (
            given["earliest"],
            f"WHEN {r['earliest']} IS NOT NULL AND TRY_CAST(trim({value}) AS TIMESTAMP) < {r['earliest']} "
            f"THEN 'before the earliest plausible date ' || {r['earliest']}",
        ),
        (
            given["latest"],
            f"WHEN {r['latest']} IS NOT NULL AND TRY_CAST(trim({value}) AS TIMESTAMP) >= {r['latest']} + INTERVAL 1 DAY "
            f"THEN 'after the latest plausible date ' || {r['latest']}",
        ),
    ]
    return "CASE " + " ".join(when for applies, when in whens if applies) + " END"


def check_rules(con: duckdb.DuckDBPyConnection, rules: list[Rule]) -> None:
    """Add a problem for every value in VALUES that breaks its column's rule, and for every
    required column left empty."""
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in _RULE_TYPES.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rules (column_name VARCHAR, scope VARCHAR, hide BOOLEAN, {columns})")
    insert_rows(con, "_rules", [(r.column, r.scope, r.hide_value, *_attributes(r).values()) for r in rules])
    reason = reason_sql("x.v", {name: f"r.{name}" for name in _RULE_TYPES})
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT load_id, row, scope, column_name, reason, CASE WHEN hide THEN NULL ELSE v END FROM (
                SELECT x._load_id AS load_id, x._row AS row, r.scope, x.column_name, x.v, r.hide, {reason} AS reason
                FROM {VALUES} x JOIN _rules r USING (column_name))
            WHERE reason IS NOT NULL"""
    )
    check_required(con, rules)


def check_required(con: duckdb.DuckDBPyConnection, rules: list[Rule]) -> None:
    """Add a problem for every row of ROWS that leaves a required column empty."""
    for rule in (r for r in rules if r.required):
        con.execute(
            f"INSERT INTO {PROBLEMS} SELECT _load_id, _row, {quote_literal(rule.scope)}, {quote_literal(rule.column)}, "
            f"'required value is empty', NULL FROM {ROWS} WHERE ({quote(rule.column)} IS NULL "
            f"OR trim({quote(rule.column)}) = '') AND ({rule.required_where or 'TRUE'})"
        )


def add_duplicate_problems(
    con: duckdb.DuckDBPyConnection, header: list[str], key: list[str], what: str, content: str | None = None
) -> None:
    """Exact copies of an earlier row of the same file are set aside; rows of a file that share a
    key but disagree all are. `content`: SQL over ROWS, what makes two rows the same (every
    header column by default); only rows whose key repeats are compared."""
    content = content or "concat_ws(chr(31), " + ", ".join(f"coalesce({quote(c)}, chr(0))" for c in header) + ")"
    key_sql = "concat_ws(chr(31), " + ", ".join(f"coalesce({quote(c)}, '')" for c in key) + ")"
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            WITH keyed AS (SELECT _load_id, _row, {key_sql} AS k FROM {ROWS}),
            repeated AS (SELECT _load_id, k FROM keyed GROUP BY _load_id, k HAVING count(*) > 1),
            hashed AS (SELECT r._load_id, r._row, kd.k, md5({content}) AS content
                       FROM {ROWS} r JOIN keyed kd USING (_load_id, _row)
                       SEMI JOIN repeated rp ON rp._load_id = r._load_id AND rp.k = kd.k),
            grouped AS (SELECT _load_id, k, min(_row) AS first_row, count(DISTINCT content) AS versions,
                               string_agg(_row::VARCHAR, ', ' ORDER BY _row) AS rows
                        FROM hashed GROUP BY _load_id, k)
            SELECT h._load_id, h._row, NULL, NULL,
                   CASE WHEN g.versions > 1 THEN 'conflicting rows for the same {what} (rows ' || g.rows || ')'
                        ELSE 'exact duplicate of row ' || g.first_row END, NULL
            FROM hashed h JOIN grouped g USING (_load_id, k)
            WHERE g.versions > 1 OR h._row > g.first_row"""
    )


def excluded(scope: str | None = None, table: str = ROWS) -> str:
    """SQL predicate on `table`'s (_load_id, _row): the row has no problem in this scope (or in
    the whole row)."""
    scoped = f"(p.scope IS NULL OR p.scope = {quote_literal(scope)})" if scope else "TRUE"
    return (
        f"NOT EXISTS (SELECT 1 FROM {PROBLEMS} p WHERE p.load_id = {table}._load_id "
        f"AND p.row = {table}._row AND {scoped})"
    )
