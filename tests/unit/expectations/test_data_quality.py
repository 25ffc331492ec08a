"""The Great Expectations suites as the code location holds them: every suite guards an asset of
the code location, and names real expectations, each with its severity and reason. The faults they
find on the generator's cohorts: tests/e2e/test_data_quality.py."""

import great_expectations.expectations as gxe

from expectations.suites import SEVERITIES, all_suites

SUITES = {s.name: s for s in all_suites()}


def test_suites_name_real_expectations_with_severity_and_reason():
    assert len(SUITES) == 13
    for suite in SUITES.values():
        for e in suite.expectations:
            assert hasattr(gxe, e.type), (suite.name, e.type)
            assert e.severity in SEVERITIES and len(e.why) > 10
    blocking = {name for name, s in SUITES.items() if s.blocking}
    assert blocking == {name for name in SUITES if name.startswith("marts_")}  # raw batches warn, marts block


def test_every_suite_guards_an_asset_of_the_code_location():
    from orchestration.definitions import defs

    keys = {"/".join(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys()}
    for suite in SUITES.values():
        assert suite.guards in keys and set(suite.needs) <= keys, suite.name
