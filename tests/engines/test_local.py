"""The local engine's process pool: the same outputs as one process, one pool for every call."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pytest

from storyline.engines.local import LocalEngine
from storyline.steps.candidates import Candidates
from storyline.steps.fingerprint import Fingerprint
from tests.conftest import make_articles


@dataclass
class Pid:
    """A map step that names the process that ran each row."""

    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("x",)
    output_schema: ClassVar[pa.Schema] = pa.schema([("x", pa.int64()), ("pid", pa.int64())])

    def __call__(self, batch: pa.Table) -> pa.Table:
        if 13 in batch["x"].to_pylist():
            raise ValueError("unlucky row")
        return pa.table({"x": batch["x"], "pid": [os.getpid()] * batch.num_rows}, schema=self.output_schema)


def test_local_pool_outputs_equal_one_process():
    arts = make_articles(*[" ".join(f"w{(i * 7 + j) % 300}" for j in range(120)) for i in range(12)])
    one, pool = LocalEngine(batch_rows=2), LocalEngine(workers=2, batch_rows=2)
    try:
        keys = one.map(Fingerprint(), arts)
        assert pool.map(Fingerprint(), arts).equals(keys)
        assert pool.group(Candidates(), keys).equals(one.group(Candidates(), keys))
    finally:
        pool.shutdown()


@dataclass
class Joined:
    """A gather step over two tables: each left row with the sum of the right's, and the process."""

    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("x",)
    output_schema: ClassVar[pa.Schema] = pa.schema([("x", pa.int64()), ("total", pa.int64()), ("pid", pa.int64())])

    def __call__(self, left: pa.Table, right: pa.Table) -> pa.Table:
        total = sum(right["y"].to_pylist())
        return pa.table({"x": left["x"], "total": [total] * left.num_rows, "pid": [os.getpid()] * left.num_rows},
                        schema=self.output_schema)


@pytest.mark.parametrize("workers", [1, 2])
def test_gather_each_gives_each_group_its_gather_in_order(workers):
    groups = [(pa.table({"x": [i, i + 1]}), pa.table({"y": list(range(i))})) for i in range(7)]
    engine = LocalEngine(workers=workers)
    drawn = []

    def inputs():  # drawn lazily: a pool holds one group per worker and one queued, not the whole list
        for g in groups:
            drawn.append(len(drawn))
            yield g

    try:
        out = engine.gather_each(Joined(), inputs())
        first = next(out)
        assert len(drawn) <= (workers + 1 if workers > 1 else 1)
        got = [first, *out]
    finally:
        engine.shutdown()
    want = [engine.gather(Joined(), *g) for g in groups]
    assert [t.drop_columns(["pid"]) for t in got] == [t.drop_columns(["pid"]) for t in want]
    pids = {p for t in got for p in t["pid"].to_pylist()}
    assert (os.getpid() in pids) == (workers == 1)
    with pytest.raises(ValueError, match="reads"):
        list(engine.gather_each(Joined(), [(pa.table({"z": [1]}), pa.table({"y": [1]}))]))


def test_local_pool_starts_once_serves_every_call_and_shuts_down():
    engine = LocalEngine(workers=2, batch_rows=1)
    table = pa.table({"x": list(range(12))})
    assert engine._pool is None  # nothing starts before a call needs it
    try:
        first = engine.map(Pid(), table)
        pool = engine._pool
        second = engine.map(Pid(), table)
        assert engine._pool is pool and first["x"].to_pylist() == list(range(12))
        pids = set(first["pid"].to_pylist()) | set(second["pid"].to_pylist())
        assert os.getpid() not in pids and len(pids) <= 2  # the same two workers, never this process
        with pytest.raises(ValueError, match="unlucky"):  # a step's error reaches the caller
            engine.map(Pid(), pa.table({"x": list(range(20))}))
        assert engine.map(Pid(), table)["x"].to_pylist() == list(range(12))  # and the pool still serves
    finally:
        engine.shutdown()
    assert engine._pool is None


def test_local_pool_stops_when_idle_and_the_next_call_starts_another():
    engine = LocalEngine(workers=2, batch_rows=1, idle_s=0.2)
    table = pa.table({"x": list(range(6))})
    try:
        engine.map(Pid(), table)
        first = engine._pool
        engine.map(Pid(), table)  # back to back: the same pool
        assert engine._pool is first
        time.sleep(1.0)
        assert engine._pool is None  # idle past idle_s: its workers are gone
        assert engine.map(Pid(), table)["x"].to_pylist() == list(range(6))
        assert engine._pool is not None and engine._pool is not first
    finally:
        engine.shutdown()


def test_pool_sends_big_tables_as_files_that_the_workers_remove(monkeypatch):
    import storyline.engines.local as local

    monkeypatch.setattr(local, "SHIP_BYTES", 64)
    shipped, ship = [], local._ship
    monkeypatch.setattr(local, "_ship", lambda table, folder: shipped.append(table.num_rows) or ship(table, folder))
    # the right tables are slices: a file holds the slice's rows only
    groups = [(pa.table({"x": list(range(i, i + 50))}), pa.table({"y": list(range(100))}).slice(10 + i, 40))
              for i in range(5)]
    engine = LocalEngine(workers=2)
    try:
        got = list(engine.gather_each(Joined(), iter(groups)))
        spool = engine._spool
        assert spool and os.path.isdir(spool) and not os.listdir(spool)  # each worker removed what it read
    finally:
        engine.shutdown()
    assert not os.path.exists(spool) and shipped == [50, 40] * 5
    want = [Joined()(*g) for g in groups]
    assert [t.drop_columns(["pid"]) for t in got] == [t.drop_columns(["pid"]) for t in want]


_DRIVER = """
import multiprocessing.forkserver as fs, sys, time
import pyarrow as pa
from storyline.engines.local import LocalEngine
from storyline.steps.fingerprint import Fingerprint
if __name__ == "__main__":
    engine = LocalEngine(workers=2, batch_rows=1)
    engine.map(Fingerprint(), pa.table({"article_id": ["a", "b", "c"], "text": ["one two", "three", "four"]}))
    pids = list(engine._pool._processes) + [getattr(fs._forkserver, "_forkserver_pid", None) or 0]
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_local_pool_and_its_fork_server_exit_when_the_driver_is_killed(tmp_path):
    # A driver killed with SIGKILL cannot stop its pool: its workers (and under forkserver the fork
    # server, which waits on them) must notice and exit rather than idle forever.
    import signal
    import subprocess
    import sys

    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split() if int(p)]
        assert len(pids) >= 2 and all(_alive(p) for p in pids)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]


@dataclass
class PoolName:
    """A map step that names, per row, the Arrow pool of the process that ran it and how many bytes
    Arrow's C++ internals (an Acero group-by) ever took from mimalloc there."""

    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("x",)
    output_schema: ClassVar[pa.Schema] = pa.schema([("x", pa.int64()), ("pool", pa.string()),
                                                    ("mimalloc", pa.int64())])

    def __call__(self, batch: pa.Table) -> pa.Table:
        batch.group_by("x").aggregate([("x", "count")])
        return pa.table({"x": batch["x"], "pool": [pa.default_memory_pool().backend_name] * batch.num_rows,
                         "mimalloc": [pa.mimalloc_memory_pool().max_memory()] * batch.num_rows},
                        schema=self.output_schema)


CHILD_POOL = """
import storyline, pyarrow as pa, pyarrow.parquet as pq, sys
t = pa.table({"x": list(range(100_000))})
pq.write_table(t, sys.argv[1])
pq.read_table(sys.argv[1]).group_by("x").aggregate([("x", "count")])
print(pa.default_memory_pool().backend_name, pa.mimalloc_memory_pool().max_memory())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pyarrow's Linux wheels carry jemalloc")
def test_importing_storyline_gives_arrows_internals_jemalloc(tmp_path):
    # Parquet reads and Acero allocate from the pool named when pyarrow loads, which
    # pa.set_memory_pool does not change: importing storyline first must name jemalloc.
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", CHILD_POOL, str(tmp_path / "t.parquet")], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["jemalloc", "0"]
    # A pool the user names is kept.
    env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    out = subprocess.run([sys.executable, "-c", CHILD_POOL, str(tmp_path / "t.parquet")], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "system"


@pytest.mark.skipif(os.environ.get("ARROW_DEFAULT_MEMORY_POOL", "jemalloc") != "jemalloc",
                    reason="a pool named by the environment wins")
def test_driver_and_workers_give_arrow_buffers_from_jemalloc(monkeypatch):
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    engine = LocalEngine(workers=2, batch_rows=1)
    try:
        assert pa.default_memory_pool().backend_name == "jemalloc"
        out = engine.map(PoolName(), pa.table({"x": list(range(6))}))
        assert set(out["pool"].to_pylist()) == {"jemalloc"}
        assert set(out["mimalloc"].to_pylist()) == {0}  # workers load pyarrow with jemalloc named
    finally:
        engine.shutdown()
    # A pool the user names is kept.
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    LocalEngine()
    assert pa.default_memory_pool().backend_name == "mimalloc"
