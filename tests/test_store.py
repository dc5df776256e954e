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


def test_take_reads_rows_by_key_in_the_order_asked(tmp_path, monkeypatch):
    import storyline.store as store_mod

    monkeypatch.setattr(store_mod, "ROW_GROUP", 3)  # several row groups per part
    s = Store(tmp_path / "s")
    ids = [f"a{i:02d}" for i in range(20)]
    s.append("articles", pa.table({"article_id": ids[:11], "text": [f"t{i}" for i in range(11)]}), "c")
    s.append("articles", pa.table({"article_id": ids[11:], "text": [f"t{i}" for i in range(11, 20)]}), "c")
    want = ["a15", "a02", "zz", "a10", "a11", "a00", "a19", "a07"]
    got = s.take("articles", pa.array(want), ["article_id", "text"])
    assert got["article_id"].to_pylist() == [w for w in want if w != "zz"]
    assert got["text"].to_pylist() == [f"t{int(w[1:])}" for w in want if w != "zz"]
    assert s.take("articles", ["a03"], ["text"]).column_names == ["text"]
    assert s.take("articles", ["nope"], ["text"]).num_rows == 0
    # the index follows the table when it changes
    s.replace("articles", pa.table({"article_id": ["a03"], "text": ["new"]}), "c")
    assert s.take("articles", ["a03", "a04"], ["text"])["text"].to_pylist() == ["new"]


def test_replace_parts_commits_once_and_keeps_an_empty_schema(tmp_path):
    s = Store(tmp_path / "s")
    schema = pa.schema([("x", pa.int64())])
    s.replace_parts("t", (pa.table({"x": [i, i + 1]}) for i in (0, 10, 20)), "c", schema)
    assert sorted(s.read("t")["x"].to_pylist()) == [0, 1, 10, 11, 20, 21]
    assert len(s.parts("t")) == 3
    s.replace_parts("t", iter([]), "c", schema)
    assert s.read("t").num_rows == 0 and s.read("t").schema.names == ["x"]


def test_buckets_split_by_value_in_stored_order_and_leave_no_files(tmp_path, monkeypatch):
    import storyline.store as store_mod

    monkeypatch.setattr(store_mod, "SPILL_ROWS", 4)  # buffers written several times per bucket
    s = Store(tmp_path / "s")
    (tmp_path / "s" / ".buckets-killed").mkdir()  # a killed run's files go with the next read
    values = [7, 2, 9, 4, 7, 12, 3, 2, 8, 15, 4, 1, 7, 30]
    for lo, hi in ((0, 5), (5, 11), (11, 14)):  # three parts
        s.append("t", pa.table({"k": pa.array(values[lo:hi], pa.uint64()), "row": list(range(lo, hi))}), "c")
    got = list(s.buckets("t", "k", 4))
    assert len(got) == 4
    for b, table in enumerate(got):
        assert table.column_names == ["k", "row"]
        assert table["row"].to_pylist() == [i for i, v in enumerate(values) if v % 4 == b]
    assert not list((tmp_path / "s").glob(".buckets-*"))
    assert [t["k"].to_pylist() for t in s.buckets("t", "k", 1, columns=["k"])] == [values]
    # a bucket no row falls in is an empty table; a reader that stops early leaves no files either
    assert [t.num_rows for t in s.buckets("t", "k", 32, columns=["row", "k"])][31] == 0
    first = s.buckets("t", "k", 3)
    next(first)
    first.close()
    assert not list((tmp_path / "s").glob(".buckets-*"))


@pytest.mark.parametrize("budget", ["rows", "bytes"])
def test_partitions_read_side_by_side_give_each_group_its_rows(tmp_path, monkeypatch, budget):
    import storyline.store as store_mod

    # buffers written several times per bucket: by row count, or by bytes (wide rows) after every batch
    monkeypatch.setattr(store_mod, "SPILL_ROWS" if budget == "rows" else "SPILL_BYTES", 4)
    s = Store(tmp_path / "s")
    schema = pa.schema([("id", pa.string()), ("row", pa.int64())])
    ids = ["a", "b", "a", "c", "z", "b", "d", "a"]  # z is in no group: dropped
    for lo, hi in ((0, 3), (3, 8)):
        s.append("t", pa.table({"id": ids[lo:hi], "row": list(range(lo, hi))}, schema=schema), "c")
        s.append("u", pa.table({"id": ids[lo:hi][::-1], "row": list(range(lo, hi))}, schema=schema), "c")
    keys, group = pa.array(["d", "a", "b", "c"]), [0, 1, 1, 0]
    # two tables partitioned at once, as the pipeline's story groups read them
    both = list(zip(s.partition("t", "id", keys, group, 2, schema), s.partition("u", "id", keys, group, 2, schema)))
    assert [t["row"].to_pylist() for t, _ in both] == [[3, 6], [0, 1, 2, 5, 7]]
    assert [sorted(u["id"].to_pylist()) for _, u in both] == [["c", "d"], ["a", "a", "a", "b", "b"]]
    assert not list((tmp_path / "s").glob(".buckets-*"))
    one = list(s.partition("t", "id", pa.array(["b"]), [0], 1, schema))
    assert [t["row"].to_pylist() for t in one] == [[1, 5]]
    assert [t.num_rows for t in s.partition("missing", "id", keys, group, 2, schema)] == [0, 0]


def test_buckets_of_a_missing_table(tmp_path):
    s = Store(tmp_path / "s")
    schema = pa.schema([("k", pa.uint64())])
    assert list(s.buckets("nope", "k", 4)) == []
    (empty,) = s.buckets("nope", "k", 4, schema=schema)
    assert empty.num_rows == 0 and empty.schema.equals(schema)


def test_key_index_looks_keys_up_as_a_dict_would(monkeypatch):
    import numpy as np

    import storyline.store as store_mod
    from storyline.store import KeyIndex

    monkeypatch.setattr(store_mod, "KEY_CHUNK", 3)  # several chunks of keys turned into bytes
    # a trailing NUL, an empty key, a non-ASCII one and a long one stay distinct; repeats keep their first value
    keys = ["b", "a", "", "a\x00", "é", "b", "long-key-" * 5, "a"]
    want: dict[str, int] = {}
    for i, k in enumerate(keys):
        want.setdefault(k, i)
    index = KeyIndex(pa.array(keys), np.arange(len(keys)))
    probe = [*keys, "c", "a\x00\x00", "e", "long-key-"]
    assert len(index) == len(want)
    assert index.get(pa.chunked_array([probe[:5], probe[5:]])).tolist() == [want.get(k, -1) for k in probe]
    assert index.get(probe).tolist() == [want.get(k, -1) for k in probe]
    assert KeyIndex([], np.zeros(0)).get(["x"]).tolist() == [-1] and index.get([]).tolist() == []


def test_partition_sends_a_repeated_key_to_its_last_bucket_and_shares_an_index(tmp_path):
    import numpy as np

    from storyline.store import KeyIndex

    s = Store(tmp_path / "s")
    schema = pa.schema([("id", pa.string()), ("row", pa.int64())])
    s.append("t", pa.table({"id": ["a", "b", "c", "a"], "row": [0, 1, 2, 3]}, schema=schema), "c")
    s.append("t", pa.table({"id": ["b"], "row": [4]}, schema=schema), "c")
    got = [t["row"].to_pylist() for t in s.partition("t", "id", pa.array(["a", "b", "a"]), [0, 1, 2], 3, schema)]
    assert got == [[], [1, 4], [0, 3]]  # as dict(zip(keys, bucket)) says
    shared = KeyIndex(pa.array(["c", "b"]), np.array([1, 0]))
    assert [t["row"].to_pylist() for t in s.partition("t", "id", shared, None, 2, schema)] == [[1, 4], [2]]
    assert [t["row"].to_pylist() for t in s.partition("t", "id", shared, None, 1, schema)] == [[1, 2, 4]]


def test_append_reads_only_the_new_parts_footer_and_counts_rows(tmp_path, monkeypatch):
    import storyline.store as store_mod

    st = Store(tmp_path / "s")
    for i in range(5):
        st.append("t", pa.table({"article_id": [f"a{i}"] * (i + 1)}), "c")
    opened: list[str] = []
    real = store_mod.pq.ParquetFile

    def counting(path, *a, **k):
        opened.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(store_mod.pq, "ParquetFile", counting)
    st.append("t", pa.table({"article_id": ["z"] * 7}), "c")
    m = st.manifest("t")
    assert len(opened) == 1 and opened[0].endswith(m["parts"][-1])  # one footer, not one per part
    assert m["part_rows"] == [1, 2, 3, 4, 5, 7] and m["rows"] == 22 == st.read("t").num_rows
    # a manifest without part_rows (an older store) is counted from the footers
    m.pop("part_rows")
    (tmp_path / "s" / "t" / "_manifest.json").write_text(__import__("json").dumps(m))
    st.append("t", pa.table({"article_id": ["y"]}), "c")
    assert st.manifest("t")["part_rows"] == [1, 2, 3, 4, 5, 7, 1] and st.manifest("t")["rows"] == 23
