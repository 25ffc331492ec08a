"""The command line and the code location, as a user starts them, each in a process of its own:
`cartwh generate`, `cartwh ingest` and `cartwh status` on a generated cohort without Dagster, and
`dagster definitions validate` on workspace.yaml."""

from tests.unit.cli.test_cli import BIN, _run


# end to end: the CLI ingests a generated cohort in its own process
def test_ingest_and_status_without_dagster(tmp_path):
    env = {"CARTWH_DATA": str(tmp_path)}
    assert _run(str(BIN / "cartwh"), "generate", "--landing", str(tmp_path / "landing"), env=env).returncode == 0
    out = _run(str(BIN / "cartwh"), "ingest", env=env)
    assert out.returncode == 0, out.stderr
    assert "redcap: 1 file(s) loaded" in out.stdout
    # `cartwh status` shows the published copy: after an ingest alone there is none, and no run has finished
    status = _run(str(BIN / "cartwh"), "status", env=env)
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert status.stderr == (
        f"No published warehouse at {tmp_path / 'published' / 'warehouse.duckdb'} yet: no run has "
        f"finished; run `make run` first (or wait for the nightly run).\n"
    )


# end to end: Dagster loads the code location in its own process
def test_workspace_loads_in_dagster():
    out = _run(str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml")
    assert out.returncode == 0, out.stderr[-2000:]
