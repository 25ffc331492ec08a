"""The two shapes a population statistics export comes in, told apart by its header, and how each
becomes the same long table of values (validation.VALUES: load id, row, column_name, v, _sample)
and the same measures (column_name -> gate path, statistic).

- **Wide** (FlowJo's table editor): one row per tube, the FCS file name first, one column per
  `<gate path> | <statistic>`.
- **Long** (a per-tube export, as Infinicyt and Kaluza write their population tables): one row per
  tube x population, with the tube and the population in columns of their own, and either one
  column per statistic (`Number`, `%Gated`, `%Total`, Kaluza's gate statistics table) or one row
  per statistic, named in a `Statistic` column with its number in `Value`.
The statistics and their spellings are the contract's (cytometry_statistics seed) in both, and
a lab's own names for columns and gates (cytometry_lab_columns seed) are read as the gate paths
and statistics they map onto. A column that is none of these is reported once per file, by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from cartwh.contract.cytometry import (
    HEADER_SEPARATOR,
    SAMPLE_COLUMN,
    lab_names,
    spelling_key,
    split_column,
    statistic_of,
)
from cartwh.ingest.csv_reader import ROWS, header_key, skip_rows
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.validation import VALUES, unpivot_values
from cartwh.ingest.warehouse import insert_rows, quote, quote_literal

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
_IGNORED = "not a '<gate path> | <statistic>' column of a known statistic: ignored"
_COLUMNS_NAMED = 12  # of a table none of whose columns is known, the first ones, in its error


@dataclass
class Layout:
    sample: str  # the column holding the FCS file name
    key: list[str]  # what identifies a row (duplicates)
    notes: list[Problem] = field(default_factory=list)  # header notes (row 1) of every file
    file_notes: list[tuple[int, Problem]] = field(default_factory=list)  # row-1 notes of one file (load id)
    measures: list[tuple[str, str, str]] = field(default_factory=list)  # column_name, gate path, statistic
    population: str | None = None
    statistic_columns: list[tuple[str, str]] = field(default_factory=list)  # long: (column, statistic)
    pairs: bool = False  # long, one row per statistic (Statistic and Value columns)
    names: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # the lab's names (contract.lab_names)


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
        layout.pairs, layout.key = True, [sample, population, statistic]
        layout.statistic_columns = [(statistic, value)]
        return layout
    for column in header:
        if column in (sample, population):
            continue
        if statistic_of(column):
            layout.statistic_columns.append((column, statistic_of(column)))
        else:
            layout.notes.append(Problem(1, column, _IGNORED))
    if not layout.statistic_columns:
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
        layout.measures.append((column, *measure))
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


def build_values(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """VALUES and the layout's measures from ROWS. A long export's value is named
    `<population> | <statistic>`, as a wide export's column would be."""
    if layout.population is None:
        unpivot_values(con, [c for c, _, _ in layout.measures], sample=layout.sample)
        return
    _lab_gates(con, layout)
    sample, population = quote(layout.sample), "g.gate_path"
    rows = f"{ROWS} r JOIN _lab_gates g ON g.written = r.{quote(layout.population)}"
    if layout.pairs:
        ((statistic, value),) = layout.statistic_columns
        _skip_unknown_statistics(con, layout, statistic)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {VALUES} AS
            SELECT r._load_id, r._row, {population} || {quote_literal(HEADER_SEPARATOR)} || s.statistic AS column_name,
                   r.{quote(value)} AS v, r.{sample} AS _sample
            FROM {rows} JOIN _long_statistics s ON s.written = r.{quote(statistic)}
            WHERE r.{quote(value)} IS NOT NULL""")
    else:
        selects = [
            f"""SELECT r._load_id, r._row, {population} || {quote_literal(HEADER_SEPARATOR + stat)} AS column_name,
                              r.{quote(column)} AS v, r.{sample} AS _sample
                       FROM {rows} WHERE r.{quote(column)} IS NOT NULL"""
            for column, stat in layout.statistic_columns
        ]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {VALUES} AS " + " UNION ALL ".join(selects))
    names = [r[0] for r in con.execute(f"SELECT DISTINCT column_name FROM {VALUES} ORDER BY 1").fetchall()]
    layout.measures = [(n, *n.rsplit(HEADER_SEPARATOR, 1)) for n in names]


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
    con.execute("CREATE OR REPLACE TEMP TABLE _long_statistics (written VARCHAR, statistic VARCHAR)")
    insert_rows(con, "_long_statistics", list(known.items()))
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
