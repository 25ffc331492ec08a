"""Publish the data dictionary in raw, so SQL (dbt staging) decodes REDCap codes by join."""

from __future__ import annotations

import duckdb

from cartwh.contract.redcap import DataDictionary
from cartwh.ingest.warehouse import insert_rows, transaction
from cartwh.warehouse import schema

FIELDS = "raw.redcap_fields"
CHOICES = "raw.redcap_choices"


def publish_dictionary(con: duckdb.DuckDBPyConnection, dictionary: DataDictionary) -> dict[str, int]:
    with transaction(con):
        schema.replace(con, FIELDS)  # declared in cartwh.warehouse.schema, rewritten whole
        schema.replace(con, CHOICES)
        insert_rows(
            con,
            FIELDS,
            [
                (
                    f.name,
                    f.form,
                    f.field_type,
                    f.label,
                    f.validation or None,
                    f.minimum,
                    f.maximum,
                    f.identifier,
                    f.sql_type,
                )
                for f in dictionary.fields
            ],
        )
        insert_rows(con, CHOICES, [(f.name, code, label) for f in dictionary.fields for code, label in f.choices])
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in (FIELDS, CHOICES)}
