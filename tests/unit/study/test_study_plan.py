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


# A small plan, as a file: each mistake below is one change to it.
SMALL = """\
study: {title: T, compare_by: arm, group_order: [A, B]}
settings: {landmark_months: [12], rmst_tau_months: 24, cutoff_min_roc_auc: 0.7, at_risk_every_months: 6}
survival:
  - {name: whole, title: Whole cohort, endpoints: [EFS]}
  - {name: by_arm, title: By arm, by: arm, endpoints: [EFS, OS]}
tables:
  - name: t1
    rows:
      - {label: Female, column: sex, level: F, kind: count}
figures:
  - {id: "1", caption: EFS by arm, panels: [{km: by_arm, endpoint: EFS}]}
"""


def _load(tmp_path, text):
    path = tmp_path / "analyses.yml"
    path.write_text(text, encoding="utf-8")
    return load_plan(path)


def test_a_small_plan_is_read_and_a_table_takes_the_study_groups(tmp_path):
    plan = _load(tmp_path, SMALL)
    assert plan.survival_analysis("by_arm").endpoints == ("EFS", "OS")
    table = plan.table("t1")
    assert (table.title, table.by, table.group_order) == ("t1", "arm", ("A", "B"))
    assert plan.figures == ({"id": "1", "caption": "EFS by arm", "panels": [{"km": "by_arm", "endpoint": "EFS"}]},)


@pytest.mark.parametrize(
    "old, new, message",
    [
        # an unknown key, with the path of its entry
        (" by: arm,", " by: arm, colour: red,", r"^analyses\.yml: survival\[1\]\.colour \(by_arm\): unknown key$"),
        # a wrong type
        (" by: arm,", " by: [arm],", r"^analyses\.yml: survival\[1\]\.by \(by_arm\): Input should be a valid string$"),
        ("landmark_months: [12]", "landmark_months: [one year]", r"^analyses\.yml: settings\.landmark_months\[0\]: "),
        ("kind: count}", "kind: count, level: [F]}", None),  # a level may be any value: not a mistake
        # a convention that does not exist (conventions.py names the allowed ones)
        ("settings:", "conventions: {median_ci: bootstrap}\nsettings:", r"conventions\.median_ci: .*'se' or 'band'"),
        # a duplicate name: the second one is named
        ("name: by_arm,", "name: whole,", r"^analyses\.yml: survival\[1\]: duplicate analysis name 'whole'$"),
        # a reference to an analysis that does not exist
        ("{km: by_arm,", "{km: by_nothing,", r"figures\[0\]\.panels\[0\] \(figure 1\): no survival analysis named"),
        # a rule of one entry
        ("column: sex, level: F, ", "", r"^analyses\.yml: tables\[0\]\.rows\[0\] \(t1\): kind count needs a column$"),
        ("{km: by_arm, endpoint: EFS}", "{km: by_arm, box: t1}", r"figures\[0\]\.panels\[0\]: a panel is one of"),
        # what is not YAML
        ("study: {", "study: {{", r"^analyses\.yml: not valid YAML"),
    ],
)
def test_a_mistake_names_the_file_and_the_path_of_its_entry(tmp_path, old, new, message):
    assert old in SMALL
    if message is None:
        _load(tmp_path, SMALL.replace(old, new))
        return
    with pytest.raises(PlanError, match=message):
        _load(tmp_path, SMALL.replace(old, new))


def test_every_mistake_is_named_at_once(tmp_path):
    text = SMALL.replace(" by: arm,", " by: [arm], colour: red,").replace("tau_months: 24", "tau_months: long")
    with pytest.raises(PlanError) as refused:
        _load(tmp_path, text)
    assert str(refused.value).splitlines() == [
        "analyses.yml: settings.rmst_tau_months: Input should be a valid number, unable to parse string as a number "
        "(got 'long')",
        "analyses.yml: survival[1].by (by_arm): Input should be a valid string",
        "analyses.yml: survival[1].colour (by_arm): unknown key",
    ]
