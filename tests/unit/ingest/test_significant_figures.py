"""Significant figures of a number as a lab's export wrote it (cartwh/ingest/cytometry_loader.py),
against counts made by hand with the textbook rules: leading zeros never count, trailing zeros count
after a decimal point, a mantissa without one counts up to its last non-zero digit, and an integer
written in full is exact (no figure count), as is zero."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwh.ingest.cytometry_loader import _significant_figures


@pytest.mark.parametrize(
    ("written", "figures"),
    [
        ("443012", None),  # an event count written in full: exact
        ("0", None),
        ("0.0", None),  # zero has no figures
        ("-0.00", None),
        ("0E0", None),
        ("12.50", 4),  # a trailing zero after the point counts
        (" 12.50 ", 4),
        ("0.060", 2),  # leading zeros do not
        ("00.0500", 3),
        ("-1.5", 2),
        ("+1.5", 2),
        ("1.", 1),
        (".5", 1),
        ("4.43E+05", 3),  # FlowJo's rounding of 443,012
        ("4.430e5", 4),
        ("-4.43E-05", 3),
        ("4E+05", 1),  # a mantissa without a point: up to its last non-zero digit
        ("1200E2", 2),
        ("0.0E3", None),
        ("9.99", 3),  # just below a power of ten
        ("1000.0", 5),
        ("0.001", 1),
        ("12.50  ", 4),  # blanks after the number
        ("9.9999999999999999", 17),  # more figures than a DOUBLE tells from 10
        ("0.00000000000012340", 5),
    ],
)
def test_significant_figures_as_counted_by_hand(written, figures):
    sql = f"SELECT CAST({_significant_figures('w', 'TRY_CAST(w AS DOUBLE)')} AS INTEGER) FROM (SELECT ?::VARCHAR AS w)"
    assert duckdb.connect().execute(sql, [written]).fetchone()[0] == figures


_DUCKDB = duckdb.connect()


def _by_hand(written: str) -> int | None:
    """The rule for a plain decimal, on its characters: drop the sign and the point, then the
    leading zeros; what is left is its figures (none for zero)."""
    digits = written.strip().lstrip("+-").replace(".", "").lstrip("0")
    return len(digits) or None


@settings(max_examples=150, deadline=None)
@given(
    sign=st.sampled_from(["", "-", "+"]),
    whole=st.text("0123456789", max_size=9),
    decimals=st.text("0123456789", max_size=12),
)
def test_a_plain_decimal_has_the_figures_its_characters_have(sign, whole, decimals):
    written = f"{sign}{whole}.{decimals}"
    if not (whole or decimals):
        return  # "." is no number
    sql = f"SELECT CAST({_significant_figures('w', 'TRY_CAST(w AS DOUBLE)')} AS INTEGER) FROM (SELECT ?::VARCHAR AS w)"
    assert _DUCKDB.execute(sql, [written]).fetchone()[0] == _by_hand(written)
