"""The dbt layers as the project keeps them (dbt_project/models): read from the manifest `make`
prepares, so no dbt runs here. Marts are published with enforced model contracts (every column
typed); an intermediate or staging model never reads a mart; every staging model is read."""

from __future__ import annotations

from cartwh.dbt.manifest import layer, mart_names, models

LAYERS = ("staging", "intermediate", "marts")


def test_every_mart_has_an_enforced_contract_typing_every_column():
    marts = [n for n in models() if layer(n) == "marts"]
    assert (
        {n["name"] for n in marts}
        == set(mart_names())
        == {
            "patients",
            "time_to_event",
            "tumor_burden_transitions",
            "hematotox_scores",
            "car_t_expansion",
            "car_t_kinetics",
            "bca_episodes",
        }
    )
    for node in marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["columns"], node["name"]
        untyped = [c for c, column in node["columns"].items() if not column.get("data_type")]
        assert untyped == [], node["name"]


def test_models_read_only_their_own_or_an_earlier_layer():
    by_id = {n["unique_id"]: n for n in models()}
    upward = [
        (n["name"], by_id[parent]["name"])
        for n in by_id.values()
        for parent in n["depends_on"]["nodes"]
        if parent in by_id and LAYERS.index(layer(by_id[parent])) > LAYERS.index(layer(n))
    ]
    assert upward == []


def test_every_staging_model_is_read_by_a_model():
    nodes = models()
    read = {parent for n in nodes for parent in n["depends_on"]["nodes"]}
    assert [n["name"] for n in nodes if layer(n) == "staging" and n["unique_id"] not in read] == []
