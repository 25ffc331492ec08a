"""The benchmark's floor for ingestion: a typed load of every export, one scan per header."""

import duckdb

from bench.benchmark import declared_columns, files_by_header, load_floor


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_files_sharing_a_header_are_one_scan_and_types_are_declared(tmp_path):
    landing = tmp_path / "landing"
    a = _write(landing / "redcap" / "a.csv", "record_id,age\n1,34\n2,51\n")
    b = _write(landing / "redcap" / "site_2" / "b.csv", "record_id,age\n3,47\n")
    c = _write(landing / "cytometry" / "manifests" / "m.csv", "\ufefffcs_file,date\nx.fcs,2024-01-02\n")
    groups = files_by_header(landing)
    assert groups == {"record_id,age": [a, b], "fcs_file,date": [c]}  # the BOM is not part of the header
    assert declared_columns(duckdb.connect(), [a, b]) == {"record_id": "BIGINT", "age": "BIGINT"}
    seconds, as_text = load_floor(landing, tmp_path / "floor.duckdb")
    assert seconds > 0 and as_text == 0
    assert not (tmp_path / "floor.duckdb").exists()  # the scratch warehouse goes


def test_a_type_that_a_later_file_breaks_is_loaded_as_text_and_counted(tmp_path):
    landing = tmp_path / "landing"
    _write(landing / "redcap" / "big.csv", "record_id,age\n" + "".join(f"{i},{i % 90}\n" for i in range(200)))
    _write(landing / "redcap" / "small.csv", "record_id,age\n201,unknown\n")
    assert load_floor(landing, tmp_path / "floor.duckdb")[1] == 1
