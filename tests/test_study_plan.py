"""The analysis plan (analyses.yml) is read strictly: a mistake names its entry."""

import copy

import pytest
import yaml

from cartwh import settings
from cartwh.study.config import PlanError, load_plan, ordered, parse_plan

SHIPPED = yaml.safe_load(settings.analyses_path().read_text(encoding="utf-8"))


def _with(change):
    document = copy.deepcopy(SHIPPED)
    change(document)
    return document


def test_the_shipped_plan_covers_the_paper():
    plan = load_plan()
    assert [t.name for t in plan.tables][:3] == ["table_1", "table_2", "table_3"]
    assert [f["id"] for f in plan.figures] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [a.endpoint for a in plan.competing_risks] == ["REL", "BCA"]
    assert plan.conventions.cumulative_incidence == "cuminc" and plan.conventions.consolidative_hsct == "competing"
    assert plan.landmark_months == (12.0,) and plan.cutoff_min_roc_auc == 0.70
    assert plan.ci_bands is False  # survminer's default: no CI bands
    assert parse_plan(_with(lambda d: d["settings"].update(ci_bands=True))).ci_bands is True
    assert plan.label("inotuzumab", "bridging_group") == "Inotuzumab"
    assert plan.label("unlabelled", "bridging_group") == "unlabelled"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["survival"][0].update(colour="red"), r"survival\[0\]\.colour \(whole_cohort\): unknown key"),
        (lambda d: d["survival"][1].update(cutoff="tertiles"), r"survival\[1\]\.cutoff .*\(got 'tertiles'\)"),
        (lambda d: d["survival"].append(dict(d["survival"][0])), "duplicate analysis name"),
        (lambda d: d["tables"][0]["rows"][0].update(kind="mean_sd"), r"tables\[0\]\.rows\[0\]\.kind \(table_1\)"),
        (lambda d: d["tables"][0]["rows"][0].pop("column"), "needs a column"),
        (lambda d: d["figures"][0]["panels"][0].update(km="by_nothing"), "no survival analysis named 'by_nothing'"),
        (lambda d: d["settings"].update(ci_bands="yes"), r"settings\.ci_bands: .*boolean \(got 'yes'\)"),
        (lambda d: d["conventions"].update(consolidative_hsct="ignored"), "conventions.consolidative_hsct"),
        (lambda d: d["competing_risks"][0].update(causes=[]), r"competing_risks\[0\]\.causes \(relapse_and_nrm\)"),
        (lambda d: d["competing_risks"][0].update(after_table="table_9"), r"after_table .*: no table named 'table_9'"),
        (lambda d: d["figures"][5]["panels"][0].update(cause="gvhd"), "'gvhd' is not a cause of relapse_and_nrm"),
        (lambda d: d["figures"][5]["panels"][0].update(stacked=True), "one `cause` or is `stacked`"),
        (lambda d: d["figures"][5]["panels"][0].update(cif="nothing"), "no competing-risk analysis named 'nothing'"),
    ],
)
def test_mistakes_are_refused_naming_the_entry(change, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(_with(change))


def test_ordered_keeps_the_plan_order_and_shows_the_unforeseen():
    assert ordered(["b", "x", "a", None, "b"], ["a", "b", "c"]) == ["a", "b", "x"]
