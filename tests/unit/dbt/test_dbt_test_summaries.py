"""A model's dbt tests reach Dagster as one `dbt_tests` check (cartwh/dbt/test_summaries.py): which
tests count for which model, when its check ends, and how it reads, on dbt events written here. The
demo's and the faults cohort's nights: tests/e2e/test_dbt_test_summaries.py."""

from __future__ import annotations

from cartwh.dbt.test_summaries import ModelTestsTally, dbt_test_result, model_tests_of

MANIFEST = {
    "nodes": {
        "model.p.a": {"resource_type": "model"},
        "model.p.b": {"resource_type": "model"},
        "seed.p.s": {"resource_type": "seed"},
        # generic tests: attached to their model, whatever else they read (a relationship test reads two)
        "test.p.not_null_a_x": {
            "resource_type": "test",
            "attached_node": "model.p.a",
            "depends_on": {"nodes": ["model.p.a"]},
        },
        "test.p.rel_a_b": {
            "resource_type": "test",
            "attached_node": "model.p.a",
            "depends_on": {"nodes": ["model.p.a", "model.p.b"]},
        },
        "test.p.unique_s_k": {
            "resource_type": "test",
            "attached_node": "seed.p.s",
            "depends_on": {"nodes": ["seed.p.s"]},
        },
        # a singular test reading two models counts for both; one reading a source for none
        "test.p.assert_a_b_agree": {"resource_type": "test", "depends_on": {"nodes": ["model.p.a", "model.p.b"]}},
        "test.p.source_fresh": {
            "resource_type": "test",
            "attached_node": "source.p.raw.t",
            "depends_on": {"nodes": ["source.p.raw.t"]},
        },
    }
}


def _event(test: str, status: str, failures: int = 0) -> dict:
    """A dbt-core structured log line for a test's result, as `dbt build --log-format json` writes it."""
    name = test.split(".")[-1]
    return {
        "info": {"name": "LogTestResult"},
        "data": {
            "name": name,
            "status": status,
            "num_failures": failures,
            "node_info": {"unique_id": test, "node_name": name},
        },
    }


def test_each_test_counts_for_the_model_it_is_attached_to_or_each_model_it_reads():
    assert model_tests_of(MANIFEST) == {
        "model.p.a": ("test.p.assert_a_b_agree", "test.p.not_null_a_x", "test.p.rel_a_b"),
        "model.p.b": ("test.p.assert_a_b_agree",),
        "seed.p.s": ("test.p.unique_s_k",),
    }


def test_only_test_results_are_read_from_dbt_events():
    assert (
        dbt_test_result({"info": {"name": "LogModelResult"}, "data": {"node_info": {"unique_id": "model.p.a"}}}) is None
    )
    result = dbt_test_result(_event("test.p.rel_a_b", "warn", 3))
    assert (result.unique_id, result.name, result.status, result.failures) == ("test.p.rel_a_b", "rel_a_b", "warn", 3)


def test_a_model_s_check_ends_with_its_last_test_and_names_what_did_not_pass():
    tally = ModelTestsTally(MANIFEST)
    assert tally.record(dbt_test_result(_event("test.p.not_null_a_x", "pass"))) == []
    assert tally.record(dbt_test_result(_event("test.p.rel_a_b", "pass"))) == []
    # the singular test is b's only test and a's last: both end with it
    a, b = sorted(tally.record(dbt_test_result(_event("test.p.assert_a_b_agree", "pass"))), key=lambda m: m.model)
    assert (a.model, a.passed, a.describe()) == ("model.p.a", True, "3 dbt tests passed")
    assert (b.model, b.passed, b.describe()) == ("model.p.b", True, "1 dbt tests passed")
    assert tally.record(dbt_test_result(_event("test.p.source_fresh", "fail", 1))) == []  # a source's: no model
    assert tally.rest() == []  # the seed's test never ran: it has no check result, not a passed one


def test_a_warning_warns_a_failure_blocks_and_the_rest_is_reported_at_the_end():
    tally = ModelTestsTally(MANIFEST)
    ended = tally.record(dbt_test_result(_event("test.p.not_null_a_x", "fail", 4)))
    ended += tally.record(dbt_test_result(_event("test.p.rel_a_b", "warn", 2)))
    assert ended == []
    (s,) = tally.record(dbt_test_result(_event("test.p.unique_s_k", "warn", 1)))
    assert not s.passed and s.warned_only and not s.blocking
    assert s.describe() == "1 of 1 dbt tests did not pass: unique_s_k (warn, 1 row(s))"
    # the singular test never ran (skipped after a failure): model a is reported at the end, 2 of its 3
    (a,) = tally.rest()
    assert a.model == "model.p.a" and a.blocking and not a.warned_only
    assert a.describe() == "2 of 2 of 3 dbt tests did not pass: not_null_a_x (fail, 4 row(s)); rel_a_b (warn, 2 row(s))"
    assert a.metadata() == {
        "tests run": 2,
        "tests in the project": 3,
        "warned": 1,
        "failed": 1,
        "not passed": "not_null_a_x (fail, 4 row(s))\nrel_a_b (warn, 2 row(s))",
        "tests": "not_null_a_x\nrel_a_b",
    }
    assert tally.rest() == []  # reported once
