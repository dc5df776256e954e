"""The Ray engine writes the very store the local engine writes (STYLE: engines share steps).

A golden corpus (the example corpus, the seed pages and a few hundred PolNeAR articles when
``../shared/data`` is there) runs through every stage on the local engine, on a private local Ray
with 2 CPUs, and on a two-node Ray cluster started on this host (the multi-node recipe of
docs/ray.md); every stage table must be equal row for row.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from storyline import pipeline
from storyline.config import ClusterConfig, PipelineConfig
from storyline.steps.cluster import Cluster
from storyline.engines import get_engine
from storyline.engines.local import LocalEngine
from storyline.errors import ConfigError
from storyline.store import Store
from tests.conftest import ROOT, SEEDS, SHARED

HAVE_RAY = importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install -e .[ray])")
if HAVE_RAY:
    import ray

    from storyline.engines.ray import RayEngine, key_ranges

TABLES = ("articles", "rejects", "keys", "pairs", "alignments", "edges", "reuse_clusters", "stories", "quotes",
          "figures", "facts", "docs")
POLNEAR_ARTICLES = 300
SEGMENT = 50  # clustering slices of the golden corpus: several, so the engines run them side by side
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Input paths of the golden corpus."""
    inputs = [str(ROOT / "examples" / "corpus")]
    if SEEDS.is_dir():
        inputs.append(str(SEEDS))
    polnear = SHARED / "polnear-train.jsonl"
    if polnear.exists():
        path = tmp_path_factory.mktemp("golden") / "polnear.jsonl"
        with polnear.open(encoding="utf-8") as f:
            path.write_text("".join(line for _, line in zip(range(POLNEAR_ARTICLES), f)), encoding="utf-8")
        inputs.append(str(path))
    return inputs


def run_store(inputs: list[str], out: Path, engine: Any) -> dict[str, pa.Table]:
    """Every stage of the pipeline on ``engine``; the store's tables by name."""
    cfg = PipelineConfig(cluster=ClusterConfig(segment_articles=SEGMENT))
    store = Store(out)
    report = pipeline.Report()
    pipeline.ingest_new(store, inputs, cfg, engine, report)
    pipeline.per_article(store, cfg, engine)
    pipeline.corpus_stages(store, cfg, engine)
    return {name: store.read(name) for name in TABLES}


def _timed(name: str, inputs: list[str], out: Path, engine: Any) -> dict[str, pa.Table]:
    start = time.perf_counter()
    tables = run_store(inputs, out, engine)
    TIMES[name] = time.perf_counter() - start
    return tables


@pytest.fixture(scope="module")
def local_tables(golden: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """The golden corpus through the local engine (one process, as ``storyline run`` does)."""
    return _timed("local", golden, tmp_path_factory.mktemp("local") / "out", LocalEngine())


def assert_same_store(expected: dict[str, pa.Table], got: dict[str, pa.Table]) -> None:
    """Every table equal row for row: same schema, same rows, same order (so the stores match)."""
    for name in TABLES:
        a, b = expected[name], got[name]
        assert a.schema.equals(b.schema), f"{name}: schema differs"
        assert a.num_rows == b.num_rows, f"{name}: {a.num_rows} rows local, {b.num_rows} on ray"
        assert a.equals(b), f"{name}: rows differ"


@pytest.fixture
def fresh_ray():
    """No Ray left running before or after the test."""
    ray.shutdown()
    yield
    ray.shutdown()


def test_parity_ray_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install -e \.\[ray\]"):
        get_engine("ray")


@needs_ray
def test_parity_local_ray_two_cpus(golden, local_tables, tmp_path, fresh_ray):
    # Smaller batches than the local engine's: outputs must not depend on batch size. ``auto`` runs
    # stages this small as one Ray task per batch; the two-node test below uses Ray Data actor pools.
    engine = RayEngine(num_cpus=2, batch_rows=64)
    engine.cpus()  # start Ray outside the timing, as a long-lived cluster would be
    got = _timed("ray-2cpu", golden, tmp_path / "out", engine)
    assert_same_store(local_tables, got)
    assert local_tables["articles"].num_rows >= 6 and local_tables["stories"].num_rows
    if local_tables["articles"].num_rows > 2 * SEGMENT:  # with the PolNeAR articles: several slices ran
        assert len(Cluster(ClusterConfig(segment_articles=SEGMENT)).plan(local_tables["articles"], None)) > 1
    _report_overhead()


def test_parity_local_pool_matches_one_process(golden, local_tables, tmp_path):
    """Two local workers (clustering slices, story groups and batches side by side) give the
    store of one process."""
    engine = LocalEngine(workers=2)
    try:
        assert_same_store(local_tables, run_store(golden, tmp_path / "out", engine))
    finally:
        engine.shutdown()


@needs_ray
def test_parity_two_node_cluster(golden, local_tables, tmp_path, fresh_ray, monkeypatch):
    from ray.cluster_utils import Cluster

    # Nodes started without Arrow's pool in their environment, as `ray start` on another host is.
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        # Every stage on actor pools (one actor per node here), as big inputs run.
        engine = RayEngine(address=cluster.address, batch_rows=64, compute="actors")
        assert engine.cpus() == 2 and len([n for n in ray.nodes() if n["Alive"]]) == 2
        if sys.platform.startswith("linux"):  # the job hands the workers of both nodes jemalloc
            def arrow_pool() -> tuple[str | None, str]:  # nested: Ray ships it by value, not by import
                return os.environ.get("ARROW_DEFAULT_MEMORY_POOL"), pa.default_memory_pool().backend_name

            pools = ray.get([ray.remote(arrow_pool).options(scheduling_strategy="SPREAD").remote()
                             for _ in range(4)])
            assert set(pools) == {("jemalloc", "jemalloc")}
        got = _timed("ray-2node", golden, tmp_path / "out", engine)
        assert_same_store(local_tables, got)
    finally:
        ray.shutdown()
        cluster.shutdown()
    _report_overhead()


def _report_overhead() -> None:
    print("\nparity timings (s): " + json.dumps({k: round(v, 2) for k, v in TIMES.items()}))


@needs_ray
def test_parity_key_ranges_match_local_batches():
    keys = ["b", "a", "c", "a", "b", "b", "d", "c"]
    table = pa.table({"k": keys, "i": list(range(len(keys)))})
    blocks = key_ranges(table, "k", 3)
    assert [b["k"].to_pylist() for b in blocks] == [["a", "a", "b", "b", "b"], ["c", "c", "d"]]
    assert [b["i"].to_pylist() for b in blocks][0] == [1, 3, 0, 4, 5]  # stable within a key


@needs_ray
def test_parity_ray_engine_is_lazy_and_checks_args(fresh_ray):
    engine = get_engine("ray", workers=2)
    assert isinstance(engine, RayEngine) and engine.num_cpus == 2
    assert not ray.is_initialized()
    with pytest.raises(ConfigError, match="auto"):
        RayEngine(address="nowhere")
    with pytest.raises(ConfigError, match="--engine ray"):
        get_engine("local", address="auto")
