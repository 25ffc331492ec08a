"""The two shapes a population statistics export comes in, told apart by its header, and what each
row of either holds: the tube, and the numbers of its measures (gate path x statistic).

- **Wide** (FlowJo's table editor): one row per tube, the FCS file name first, one column per
  `<gate path> | <statistic>`: each column is a measure.
- **Long** (a per-tube export, as Infinicyt and Kaluza write their population tables): one row per
  tube x population, with the tube and the population in columns of their own, and either one
  column per statistic (`Number`, `%Gated`, `%Total`, Kaluza's gate statistics table: the row's
  population, each column's statistic) or one row per statistic, named in a `Statistic` column
  with its number in `Value` (the row's population and statistic).
The statistics and their spellings are the contract's (cytometry_statistics seed) in both, and
a lab's own names for columns and gates (cytometry_lab_columns seed) are read as the gate paths
and statistics they map onto. A column that is none of these is reported once per file, by name.
Rows keep the shape the lab wrote (cytometry_loader types them in bulk, one row at a time, not
one value at a time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from cartwh.contract.cytometry import (
    HEADER_SEPARATOR,
    POPULATION_HEADERS,
    SAMPLE_COLUMN,
    SAMPLE_HEADERS,
    STATISTIC_HEADER,
    VALUE_HEADER,
    is_percent,
    lab_names,
    spelling_key,
    split_column,
    statistic_of,
)
from cartwh.ingest.csv_reader import ROWS, header_key, skip_rows
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.warehouse import insert_rows, quote, quote_literal

_IGNORED = "not a '<gate path> | <statistic>' column of a known statistic: ignored"
_COLUMNS_NAMED = 12  # of a table none of whose columns is known, the first ones, in its error


@dataclass(frozen=True)
class Measure:
    """A column of numbers: its gate path and statistic, None where each row names its own."""

    column: str
    gate_path: str | None = None
    statistic: str | None = None


@dataclass
class Layout:
    sample: str  # the column holding the FCS file name
    key: list[str]  # what identifies a row (duplicates)
    notes: list[Problem] = field(default_factory=list)  # header notes (row 1) of every file
    file_notes: list[tuple[int, Problem]] = field(default_factory=list)  # row-1 notes of one file (load id)
    measures: list[Measure] = field(default_factory=list)
    population: str | None = None  # long: the column of the row's population
    statistic: str | None = None  # long, one row per statistic: the column naming it
    names: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # the lab's names (contract.lab_names)

    @property
    def text_columns(self) -> list[str]:
        """The columns of names (tube, population, statistic), read as text: the others hold numbers."""
        return [c for c in (self.sample, self.population, self.statistic) if c]


def _find(header: list[str], names: tuple[str, ...]) -> str | None:
    return next((c for c in header if header_key(c) in names), None)


def recognise(header: list[str], name: str, lab: str | None = None) -> Layout:
    """The file's layout from its header, with the names of its lab (the site folder); a header
    that is neither layout fails naming what is missing."""
    try:
        names = lab_names(lab)
    except ValueError as error:
        raise ExportError(name, str(error), row=1) from error
    population = _find(header, POPULATION_HEADERS)
    if population is None or any(split_column(c) or _whole_column(names, c) for c in header):
        return _wide(header, name, names, lab)
    sample = _find([c for c in header if c != population], SAMPLE_HEADERS)
    if sample is None:
        raise ExportError(
            name,
            f"a per-tube export (column {population!r}) without a column of FCS file names "
            f"('{SAMPLE_COLUMN}', 'File name', 'Tube', ...)",
            row=1,
            column=population,
        )
    statistic, value = _find(header, (STATISTIC_HEADER,)), _find(header, (VALUE_HEADER,))
    layout = Layout(sample, [sample, population], population=population, names=names)
    if statistic and value:
        layout.statistic, layout.key = statistic, [sample, population, statistic]
        layout.measures = [Measure(value)]
        return layout
    for column in header:
        if column in (sample, population):
            continue
        if statistic_of(column):
            layout.measures.append(Measure(column, statistic=statistic_of(column)))
        else:
            layout.notes.append(Problem(1, column, _IGNORED))
    if not layout.measures:
        raise ExportError(
            name,
            f"a per-tube export (column {population!r}) without a known statistic column "
            "('Number', '%Gated', '%Total', ...) or 'Statistic' and 'Value' columns",
            row=1,
        )
    return layout


def _whole_column(names: dict[str, tuple[str, str | None]], column: str) -> tuple[str, str] | None:
    """(gate path, statistic) when the lab's names map this whole column (a renamed column)."""
    gate_path, statistic = names.get(spelling_key(column), (None, None))
    return (gate_path, statistic) if statistic else None


def gate_path_of(names: dict[str, tuple[str, str | None]], written: str) -> str:
    """The gate path a lab's gate name maps onto; a gate path as written otherwise."""
    gate_path, statistic = names.get(spelling_key(written), (None, None))
    return gate_path if gate_path and not statistic else written


def _wide(header: list[str], name: str, names: dict[str, tuple[str, str | None]], lab: str | None) -> Layout:
    sample = header[0]
    if header_key(sample) not in (header_key(SAMPLE_COLUMN), "name"):
        raise ExportError(name, f"first column must hold the FCS file names ('{SAMPLE_COLUMN}')", row=1, column=sample)
    layout, seen = Layout(sample, [sample], names=names), {}
    for column in header[1:]:
        parsed = _whole_column(names, column) or split_column(column)
        statistic = statistic_of(parsed[1]) if parsed else None
        if parsed:
            parsed = (gate_path_of(names, parsed[0]), parsed[1])
        if not statistic:
            layout.notes.append(Problem(1, column, _IGNORED))
            continue
        measure = (parsed[0], statistic)  # stored under the contract's name: 'Freq. of Parent (%)' is 'Freq. of Parent'
        if measure in seen:  # two spellings of one measure would load as two values of one tube
            raise ExportError(
                name, f"column appears twice in the header (as {seen[measure]!r} and {column!r})", row=1, column=column
            )
        seen[measure] = column
        layout.measures.append(Measure(column, *measure))
    if not layout.measures:
        raise ExportError(name, _no_known_column(header[1:], lab), row=1)
    return layout


def _no_known_column(columns: list[str], lab: str | None) -> str:
    """Why a table none of whose columns is known fails, and where a lab's renamed columns are mapped."""
    seen = ", ".join(repr(c) for c in columns[:_COLUMNS_NAMED]) + (", ..." if len(columns) > _COLUMNS_NAMED else "")
    whose = f"lab {lab!r}" if lab else "its lab (the site folder below cytometry/statistics/)"
    return (
        f"no column is '<gate path> | <statistic>' of a known statistic nor a name {whose} is known by "
        f"(columns: {seen or 'none'}): if the lab renamed its columns in the table editor, map each onto its gate "
        f"path and statistic in the seed cytometry_lab_columns (dbt_project/seeds/cytometry_lab_columns.csv: "
        f"lab, lab_name, gate_path, statistic)"
    )


@dataclass(frozen=True)
class RowShape:
    """How SQL reads a layout's rows: what to select them from, each row's own gate path,
    statistic and whether that statistic is a percentage (NULL where the columns say)."""

    rows: str  # with `{only}` where a semi join may narrow them (`from_`)
    gate_path: str = "NULL::VARCHAR"
    statistic: str = "NULL::VARCHAR"
    percent: str = "NULL::BOOLEAN"

    def from_(self, only: str = "") -> str:
        """The FROM clause of the rows, narrowed to those of `only` (SQL: _load_id, _row) if given."""
        return self.rows.format(only=f" SEMI JOIN ({only}) o USING (_load_id, _row)" if only else "")

    def label(self, measure: Measure) -> str:
        """What a problem with a number of this measure names as its column: the export's column
        in a wide export, `<gate path> | <statistic>` where the row names them."""
        if measure.gate_path is not None:
            return quote_literal(measure.column)
        statistic = quote_literal(measure.statistic) if measure.statistic else self.statistic
        return f"{self.gate_path} || {quote_literal(HEADER_SEPARATOR)} || {statistic}"

    def known(self, measure: Measure) -> str:
        """SQL: the row's number of this measure belongs to a known gate path and statistic."""
        parts = [f"{self.gate_path} IS NOT NULL"] if measure.gate_path is None else []
        parts += [f"{self.statistic} IS NOT NULL"] if measure.statistic is None else []
        return " AND ".join(parts) or "TRUE"

    def maximum(self, measure: Measure) -> float | str | None:
        """The largest valid number: 100 for a percentage (per row where the row names the statistic)."""
        if measure.statistic is None:
            return f"CASE WHEN {self.percent} THEN 100.0 END"
        return 100 if is_percent(measure.statistic) else None


def row_shape(con: duckdb.DuckDBPyConnection, layout: Layout, cells: str) -> RowShape:
    """The layout's rows as SQL reads them (`r`, with `cells`, SQL of the record's cells, as
    `_record`). A long export's populations are mapped to gate paths (the lab's names) and, one
    statistic per row, rows of a statistic the models do not use are skipped, named once per
    file in a header note."""
    rows = f"(SELECT *, {cells} AS _record FROM {ROWS}{{only}}) r"
    if layout.population is None:
        return RowShape(rows)
    _lab_gates(con, layout)
    rows += f" LEFT JOIN _lab_gates g ON g.written = r.{quote(layout.population)}"
    if layout.statistic is None:
        return RowShape(rows, gate_path="g.gate_path")
    _skip_unknown_statistics(con, layout, layout.statistic)
    rows += f" LEFT JOIN _long_statistics s ON s.written = r.{quote(layout.statistic)}"
    return RowShape(rows, gate_path="g.gate_path", statistic="s.statistic", percent="s.percent")


def _lab_gates(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """_lab_gates := every population as written -> its gate path (the lab's name mapped)."""
    column = quote(layout.population)
    written = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {ROWS} WHERE trim({column}) <> ''").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE _lab_gates (written VARCHAR, gate_path VARCHAR)")
    insert_rows(con, "_lab_gates", [(w, gate_path_of(layout.names, w.strip())) for w in written])


def _skip_unknown_statistics(con: duckdb.DuckDBPyConnection, layout: Layout, column: str) -> None:
    """Rows of a statistic the models do not use (a median fluorescence, ...) are not data for
    cartwh: skipped and counted, each statistic named once in a header note."""
    written = con.execute(
        f"SELECT DISTINCT _load_id, {quote(column)} FROM {ROWS} WHERE {quote(column)} IS NOT NULL ORDER BY 1, 2"
    ).fetchall()
    known = {w: statistic_of(w) for _, w in written if statistic_of(w)}
    con.execute("CREATE OR REPLACE TEMP TABLE _long_statistics (written VARCHAR, statistic VARCHAR, percent BOOLEAN)")
    insert_rows(con, "_long_statistics", [(w, s, is_percent(s)) for w, s in known.items()])
    layout.file_notes += [
        (load_id, Problem(1, column, f"statistic {w!r} is not one the models use: its rows are skipped"))
        for load_id, w in written
        if w not in known
    ]
    skip_rows(
        con,
        f"{quote(column)} IS NOT NULL AND {quote(column)} NOT IN (SELECT written FROM _long_statistics)",
        "statistic not used",
    )
