"""A night with nothing new does nothing (cartwh/night/nothing_new.py): the fingerprint of a night's
inputs, the record a published night leaves, and the schedule that then starts no run."""

from __future__ import annotations

import json
import os

import dagster as dg

from cartwh import settings
from cartwh.night import nothing_new


def _landing(tmp_path):
    landing = tmp_path / "landing"
    (landing / "redcap").mkdir(parents=True)
    (landing / "redcap" / "a.csv").write_text("record_id\n1\n")
    return landing


def test_the_fingerprint_follows_every_landed_file_and_only_them(tmp_path):
    landing = _landing(tmp_path)
    first = nothing_new.fingerprint(landing)
    assert nothing_new.fingerprint(landing) == first
    (landing / "redcap" / "mapping.yml").write_text("x: 1\n")  # not only exports: what reads them too
    second = nothing_new.fingerprint(landing)
    assert second != first
    os.utime(landing / "redcap" / "a.csv", ns=(1, 1))  # rewritten in place
    assert nothing_new.fingerprint(landing) not in (first, second)


def test_nothing_new_only_after_a_published_night_with_the_same_inputs(tmp_path):
    landing, warehouse, published = _landing(tmp_path), tmp_path / "w.duckdb", tmp_path / "shared" / "p.duckdb"
    inputs = nothing_new.fingerprint(landing)
    assert nothing_new.nothing_new(landing, inputs, warehouse, published, pulls=False) is None  # no night yet
    nothing_new.record(warehouse, inputs, "1a2b3c4d-run")
    assert nothing_new.nothing_new(landing, inputs, warehouse, published, pulls=False) is None  # nothing published
    published.parent.mkdir()
    published.write_bytes(b"")
    said = nothing_new.nothing_new(landing, inputs, warehouse, published, pulls=False)
    assert said.startswith("Nothing new") and "1a2b3c4d" in said
    assert nothing_new.nothing_new(landing, "other", warehouse, published, pulls=False) is None
    assert nothing_new.nothing_new(landing, inputs, warehouse, published, pulls=True) is None  # the pull may bring some
    night = dict(
        run_id="9", started_at="x", finished_at="y", status="failed", blocking_checks_failed=0, checks_failed=0
    )
    published.with_name(published.name + ".last-unpublished-run.json").write_text(json.dumps(night))
    assert nothing_new.nothing_new(landing, inputs, warehouse, published, pulls=False) is None  # a later night failed


def test_the_nightly_schedule_starts_nothing_when_nothing_is_new(tmp_path, monkeypatch):
    from orchestration.schedules import nightly

    monkeypatch.setenv("CARTWH_DATA", str(tmp_path))
    landing = _landing(tmp_path)
    context = dg.build_schedule_context()
    (request,) = nightly.evaluate_tick(context).run_requests
    inputs = request.tags[nothing_new.TAG]
    assert inputs == nothing_new.fingerprint(landing)
    nothing_new.record(settings.warehouse_path(), inputs, "1a2b3c4d-run")
    settings.published_path().parent.mkdir(parents=True, exist_ok=True)
    settings.published_path().write_bytes(b"")
    assert nightly.evaluate_tick(dg.build_schedule_context()).skip_message.startswith("Nothing new")
