from __future__ import annotations

import pyarrow as pa
import pytest

from storyline.errors import StoreError
from storyline.store import Store


def test_store_append_replace_and_query(tmp_path):
    s = Store(tmp_path / "out")
    s.append("t", pa.table({"x": [1, 2]}), "c1")
    s.append("t", pa.table({"x": [3]}), "c1")
    assert s.read("t")["x"].to_pylist() == [1, 2, 3]
    assert s.query("select sum(x) as n from t") == [{"n": 6}]
    s.replace("t", pa.table({"x": [9]}), "c2")
    assert s.read("t")["x"].to_pylist() == [9] and len(s.parts("t")) == 1


def test_store_keeps_one_previous_generation_for_readers(tmp_path):
    s = Store(tmp_path)
    s.replace("t", pa.table({"x": [1]}), "c")
    first = s.parts("t")
    s.replace("t", pa.table({"x": [2]}), "c")
    assert all(p.exists() for p in first)  # a reader holding the old manifest can still read
    s.replace("t", pa.table({"x": [3]}), "c")
    assert not any(p.exists() for p in first) and len(list((tmp_path / "t").glob("part-*"))) == 2


def test_store_config_change_drops_old_parts(tmp_path):
    s = Store(tmp_path)
    s.append("t", pa.table({"x": [1]}), "c1")
    s.append("t", pa.table({"x": [2]}), "c2")
    assert s.read("t")["x"].to_pylist() == [2]


def test_store_ignores_parts_without_manifest(tmp_path):
    s = Store(tmp_path)
    s.append("t", pa.table({"x": [1]}), "c")
    (tmp_path / "t" / "part-orphan.parquet").write_bytes(b"half-written")
    assert s.read("t")["x"].to_pylist() == [1]


def test_store_refuses_foreign_folder(tmp_path):
    (tmp_path / "something.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a storyline store"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="storyline run"):
        Store(tmp_path / "missing", create=False)


def test_store_duckdb_file_has_views(tmp_path):
    import duckdb

    s = Store(tmp_path)
    s.append("t", pa.table({"x": [1, 2]}), "c")
    con = duckdb.connect(str(s.write_duckdb()))
    assert con.execute("select count(*) from t").fetchone() == (2,)
