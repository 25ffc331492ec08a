"""cartwh.warehouse.connection.transaction, the one BEGIN/COMMIT/ROLLBACK of the code base: a block's writes
land together, or (whatever it raises, an interrupt too) none of them, and the connection is left
with no transaction open."""

from __future__ import annotations

import duckdb
import pytest

from cartwh.warehouse.connection import transaction


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    yield con
    con.close()


def test_a_block_that_ends_commits_all_its_writes(con):
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1), (2)")
        con.execute("INSERT INTO t VALUES (3)")
    assert con.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,), (3,)]


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_a_block_that_raises_writes_nothing_and_the_error_is_its_own(con, error):
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(type(error)):
        with transaction(con):
            con.execute("INSERT INTO t VALUES (2)")
            raise error
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
    with transaction(con):  # no transaction was left open
        con.execute("INSERT INTO t VALUES (3)")
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(2,)]
