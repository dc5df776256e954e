"""Scale: the whole pipeline on a synthetic-from-real corpus of N articles, local engine vs Ray.

The corpus is built from the real articles in ``../shared/data`` (PolNeAR and BASIL): each
*original* is a real article whose content words are re-drawn from the pool's vocabulary with a
per-article seed (so originals are as distinct from each other as real stories are, while keeping
real sentence shapes, punctuation, quotes and figures), and about a third of the articles are
*reprints* of a recent original by another outlet with realistic edits: a new intro line, dropped
or reordered paragraphs, a trimmed tail, a few substituted words, a new title, published 0-3 days
later. Same seed, same corpus.

The pipeline runs as ``storyline run`` does (pipeline.ingest_new / per_article / corpus_stages),
fed in chunks of ``--chunk`` articles so ingest streams, in a subprocess per engine. The
per_article stage is the per-article steps the corpus stages read first (fingerprint, terms);
quotes and figures run inside the corpus stage, beside clustering. Per stage
it reports wall time, articles/s, peak RSS of the process tree (driver plus pool workers or Ray's
processes, sampled every 0.2 s: pages several processes map, shared libraries and mapped files,
count once per process) and its peak PSS (each shared page split among the processes mapping it,
so counted once in the tree: the memory the tree takes), and the store's size on disk;
per step, its time and rows; and per pipeline stage function, its wall time split into engine
steps, store calls and the driver code between them, with the driver's peak RSS (a timeline
whose rows add up to each stage's wall time).
With several ``--n`` it also reports how each stage's cost grows (1.0 = linear).

Usage:
    python bench/scale.py --n 10000 100000 [--engines local ray] [--chunk 50000] [--work bench-out/scale]
    python bench/scale.py --n 1000000 --engines local --stages ingest,per_article
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared/data"
SOURCES = ("polnear-train.jsonl", "basil-dev.jsonl")
WORD = re.compile(r"([A-Za-z][a-z]{3,})")  # content-ish words; short words and numbers are kept
STAGES = ("ingest", "per_article", "corpus")


# ----------------------------------------------------------------------------------------------
# The corpus


def _load_sources(data: Path) -> list[dict[str, str]]:
    rows = []
    for name in SOURCES:
        path = data / name
        if not path.exists():
            continue
        for line in path.open(encoding="utf-8"):
            obj = json.loads(line)
            text = obj.get("text") or ""
            if len(text.split()) >= 80:
                rows.append({"title": obj.get("title") or text.split("\n")[0][:80], "text": text,
                             "outlet": obj.get("publisher") or obj.get("source") or "outlet"})
    if not rows:
        sys.exit(f"no source articles in {data}; the bench needs ../shared/data ({', '.join(SOURCES)})")
    return rows


class Generator:
    """Deterministic synthetic-from-real articles (see the module docstring)."""

    def __init__(self, sources: list[dict[str, str]], seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.bases = []
        vocab: set[str] = set()
        for src in sources:
            parts = WORD.split(src["text"])  # odd indices are words
            vocab.update(p.lower() for p in parts[1::2])
            self.bases.append((parts, src["title"]))
        self.lower = sorted(vocab)
        self.upper = [w.capitalize() for w in self.lower]
        self.outlets = [f"outlet{i:03d}.example" for i in range(300)]
        self.recent: list[dict[str, Any]] = []  # originals a reprint may copy (a sliding window)
        self.start = date(2020, 1, 1)

    def original(self, i: int) -> dict[str, Any]:
        """A real article with its content words re-drawn with this article's own seed."""
        parts, title = self.rng.choice(self.bases)
        rng = random.Random(i * 7919 + 17)
        mapping: dict[str, int] = {}
        out = list(parts)
        for k in range(1, len(parts), 2):
            w = parts[k].lower()
            j = mapping.setdefault(w, rng.randrange(len(self.lower)))
            out[k] = self.upper[j] if parts[k][0].isupper() else self.lower[j]
        text = "".join(out)
        day = self.start + timedelta(days=i * 365 // max(1, self._n))
        title = " ".join(self.upper[mapping.get(t.lower(), rng.randrange(len(self.lower)))]
                         for t in title.split()[:10]) or f"Story {i}"
        return {"id": f"s{i}", "url": f"https://{self.rng.choice(self.outlets)}/{i}", "title": title,
                "outlet": None, "date": day.isoformat(), "text": text}

    def reprint(self, i: int, src: dict[str, Any]) -> dict[str, Any]:
        """An edited copy of ``src`` by another outlet, 0-3 days later."""
        rng = self.rng
        paras = [p for p in src["text"].split("\n") if p.strip()]
        if len(paras) > 4 and rng.random() < 0.5:
            del paras[rng.randrange(1, len(paras))]  # a dropped paragraph
        if len(paras) > 6 and rng.random() < 0.5:
            paras = paras[: rng.randrange(len(paras) * 2 // 3, len(paras))]  # a trimmed tail
        if len(paras) > 3 and rng.random() < 0.3:
            a, b = rng.sample(range(1, len(paras)), 2)
            paras[a], paras[b] = paras[b], paras[a]  # two paragraphs swapped
        words = "\n\n".join(paras).split(" ")
        for _ in range(rng.randrange(0, 6)):  # a few substituted words
            words[rng.randrange(len(words))] = rng.choice(self.lower)
        intro = f"{rng.choice(self.upper)} {rng.choice(self.upper)} ({rng.choice(self.upper).upper()}) - "
        day = date.fromisoformat(src["date"]) + timedelta(days=rng.randrange(0, 4))
        return {"id": f"s{i}", "url": f"https://{rng.choice(self.outlets)}/r{i}",
                "title": src["title"] if rng.random() < 0.5 else f"{src['title']} {rng.choice(self.upper)}",
                "outlet": None, "date": day.isoformat(), "text": intro + " ".join(words)}

    def articles(self, n: int):
        """``n`` articles: about 2/3 originals, 1/3 reprints of one of the last 2,000 originals."""
        self._n = n
        for i in range(n):
            if self.recent and self.rng.random() < 0.33:
                yield self.reprint(i, self.rng.choice(self.recent))
            else:
                art = self.original(i)
                self.recent.append(art)
                if len(self.recent) > 2000:
                    self.recent.pop(0)
                yield art


def make_corpus(n: int, folder: Path, chunk: int, seed: int = 0, data: Path = SHARED) -> list[Path]:
    """JSONL shards of ``chunk`` articles under ``folder`` (kept and reused when complete)."""
    done = folder / "_complete"
    if done.exists():
        return sorted(folder.glob("part-*.jsonl"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    gen = Generator(_load_sources(data), seed)
    shards, f = [], None
    for i, art in enumerate(gen.articles(n)):
        if i % chunk == 0:
            if f:
                f.close()
            shards.append(folder / f"part-{i // chunk:05d}.jsonl")
            f = shards[-1].open("w", encoding="utf-8")
        f.write(json.dumps(art, ensure_ascii=False) + "\n")
    if f:
        f.close()
    done.write_text(str(n))
    return shards


# ----------------------------------------------------------------------------------------------
# Measuring


def _tree_sum(root: int, value: Callable[[int, list[str]], float]) -> float:
    """``value(pid, stat fields after the name)`` summed over ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    got: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            got[int(d)] = value(int(d), fields)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(d))  # fields[1]: the parent's pid
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += got.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def _rss(pid: int, _: list[str]) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """RSS in bytes of ``root`` and all its descendants (Ray's raylet, workers, object store)."""
    return int(_tree_sum(root, _rss))


def _pss(pid: int, _: list[str]) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # gone, or no smaps_rollup (kernel < 4.14)
        pass
    return 0.0


def _tree_pss(root: int) -> int:
    """PSS in bytes of ``root`` and its descendants: what the tree uses, each shared page (libraries
    every worker maps, a file two processes map) counted once across them, where RSS counts it in each."""
    return int(_tree_sum(root, _pss))


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root``, its live descendants and the children each has reaped
    (pool workers that stopped: a forkserver's or the driver's)."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu(_: int, fields: list[str]) -> float:  # utime, stime, cutime, cstime (stat fields 14-17)
        return sum(int(x) for x in fields[11:15]) / tick

    return _tree_sum(root, cpu)


class Peak:
    """The peak process-tree RSS (and PSS) while a ``with`` block runs."""

    def __enter__(self) -> "Peak":
        self.peak, self.pss, self._stop = 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._stop.wait(0.2)

    def _take(self) -> None:
        self.peak = max(self.peak, _tree_rss(os.getpid()))
        self.pss = max(self.pss, _tree_pss(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


class Timeline:
    """Wall time of the pipeline's stage functions, so every second of a bench stage is placed.

    Each wrapped function (``per_article``, ``_pairs_stage``, ...) records its calls' wall time and
    the driver's peak RSS while it ran; engine step time (:class:`TimedEngine`) and store time
    (reads, takes, partitions, part writes: the :class:`~storyline.store.Store` methods in
    ``STORE``) are charged to the stage running on the calling thread, or, on a thread outside any
    stage (the engine's feeders), to the stage started last. A stage's ``other`` is its wall time
    less its steps, store calls and the stages it called on its own thread: driver code between them.
    """

    FUNCTIONS = ("ingest_new", "per_article", "_per_article_stage", "_reuse_stages", "_pairs_stage", "_align_stage",
                 "_direction_stage", "_stories_stage", "_story_stages", "_docs_stage", "release_memory")
    STORE = ("read", "read_part", "take", "_location_index", "write_part", "_commit", "_spilled")
    NONE = "(no stage)"

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, Any]] = {}
        self.store: dict[str, dict[str, float]] = {}  # store method -> calls, s
        self.order: list[str] = []  # stages in the order first started
        self._local = threading.local()
        self._started: list[str] = []  # stages under way, on any thread, in start order
        self._lock = threading.Lock()

    def take(self) -> dict[str, Any]:
        """What was recorded since the last take (one bench stage's), and start afresh."""
        with self._lock:
            out = {"stages": {n: self.stages[n] for n in self.order}, "store": self.store}
            self.stages, self.store, self.order = {}, {}, []
        return out

    def _rec(self, name: str) -> dict[str, Any]:
        if name not in self.stages:
            self.order.append(name)
        return self.stages.setdefault(name, {"calls": 0, "s": 0.0, "steps": 0.0, "store": 0.0, "children": 0.0,
                                             "driver": 0, "parent": None, "side": False, "cpu": 0.0})

    def current(self) -> str:
        stack = getattr(self._local, "stack", None)
        if stack:
            return stack[-1]
        with self._lock:
            return self._started[-1] if self._started else self.NONE

    def charge(self, kind: str, s: float) -> None:
        """Add ``s`` seconds of ``kind`` (steps or store) to the stage under way here."""
        name = self.current()
        with self._lock:
            self._rec(name)[kind] += s

    def in_step(self) -> bool:
        return getattr(self._local, "in_step", 0) > 0

    def step_enter(self) -> None:
        self._local.in_step = getattr(self._local, "in_step", 0) + 1

    def step_leave(self) -> None:
        self._local.in_step -= 1

    def sample(self, own: int) -> None:
        with self._lock:
            for name in set(self._started):
                rec = self._rec(name)
                rec["driver"] = max(rec["driver"], own)

    def wrap_function(self, module: Any, fname: str) -> None:
        fn = getattr(module, fname)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = f"{fname}:{args[3]}" if fname == "_per_article_stage" else fname
            stack = self._local.__dict__.setdefault("stack", [])
            side = not stack and hasattr(self._local, "submitter")  # run by a pool thread beside its caller
            parent = stack[-1] if stack else getattr(self._local, "submitter", None)
            # one record per (caller, function): release_memory is called from several stages
            name = f"{parent or ''}/{'|| ' if side else ''}{name}"
            with self._lock:
                rec = self._rec(name)
                rec["parent"], rec["side"] = parent, side
                self._started.append(name)
            stack.append(name)
            start, cpu = time.perf_counter(), _tree_cpu(os.getpid())
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                used = _tree_cpu(os.getpid()) - cpu
                stack.pop()
                with self._lock:
                    self._started.remove(name)
                    rec["calls"] += 1
                    rec["s"] += took
                    rec["cpu"] += used
                    if stack:
                        self._rec(stack[-1])["children"] += took

        setattr(module, fname, timed)

    def pool(self, base: type) -> type:
        """``base`` (a ThreadPoolExecutor) whose tasks know the stage that submitted them."""
        timeline = self

        class Pool(base):  # type: ignore[misc, valid-type]
            def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
                stack = getattr(timeline._local, "stack", None)
                submitter = stack[-1] if stack else None

                def run() -> Any:
                    timeline._local.submitter = submitter
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        del timeline._local.submitter
                return super().submit(run)
        return Pool

    def wrap_store(self, cls: Any) -> None:
        for meth in self.STORE:
            fn = getattr(cls, meth)
            setattr(cls, meth, self._timed_gen(meth, fn) if inspect.isgeneratorfunction(fn) else self._timed(meth, fn))

    def _account(self, meth: str, took: float, outer: bool = True) -> None:
        with self._lock:
            rec = self.store.setdefault(meth, {"calls": 0, "s": 0.0, "in_steps": 0.0})
            rec["calls"] += 1
            rec["s"] += took
            if self.in_step():
                rec["in_steps"] += took
        if outer and not self.in_step():  # inside a timed draw it is step time already
            self.charge("store", took)

    def _timed(self, meth: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "store_depth", 0)  # take calls _location_index: charged once
            self._local.store_depth = depth + 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.store_depth = depth
                self._account(meth, time.perf_counter() - start, outer=not depth)
        return timed

    def _timed_gen(self, meth: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            it = fn(*args, **kwargs)
            while True:
                start = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    self._account(meth, time.perf_counter() - start)
                    return
                self._account(meth, time.perf_counter() - start)
                yield item
        return timed


def _own_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class TimedEngine:
    """Wraps an engine to record, per step class, wall time, rows, and the peak RSS of the driver
    and of the process tree while a call of it ran (steps run side by side share a peak); the
    driver's peak outside any step is recorded under ``(between steps)``."""

    BETWEEN = "(between steps)"

    def __init__(self, engine: Any, timeline: Timeline | None = None) -> None:
        self.engine, self.steps, self.timeline = engine, {}, timeline or Timeline()
        self._nested: list[float] = []  # per timed draw under way: time its nested draws took
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()  # steps start and end on several driver threads
        self.memory: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            own, tree = _own_rss(), _tree_rss(os.getpid())
            self.timeline.sample(own)
            for name in [n for n, k in list(self._active.items()) if k] or [self.BETWEEN]:
                rec = self.memory.setdefault(name, {"driver": 0, "tree": 0})
                rec["driver"], rec["tree"] = max(rec["driver"], own), max(rec["tree"], tree)

    def close(self) -> None:
        self._stop.set()
        self._sampler.join()

    def _enter(self, step: Any) -> str:
        name = type(step).__name__
        with self._lock:
            self._active[name] = self._active.get(name, 0) + 1
        return name

    def _leave(self, name: str) -> None:
        with self._lock:
            self._active[name] -= 1

    def _timed(self, verb: str, step: Any, *tables: Any) -> Any:
        start = time.perf_counter()
        name = self._enter(step)
        self.timeline.step_enter()
        try:
            out = getattr(self.engine, verb)(step, *tables)
        finally:
            self.timeline.step_leave()
            self._leave(name)
        took = time.perf_counter() - start
        self.timeline.charge("steps", took)
        rec = self.steps.setdefault(type(step).__name__, {"s": 0.0, "rows_in": 0, "rows_out": 0, "calls": 0})
        rec["s"] += took
        rec["rows_in"] += tables[0].num_rows
        rec["rows_out"] += out.num_rows
        rec["calls"] += 1
        return out

    @property
    def parallel(self) -> bool:
        return getattr(self.engine, "parallel", False)

    def map(self, step: Any, table: Any) -> Any:
        return self._timed("map", step, table)

    def group(self, step: Any, table: Any) -> Any:
        return self._timed("group", step, table)

    def gather(self, step: Any, *tables: Any) -> Any:
        return self._timed("gather", step, *tables)

    def gather_each(self, step: Any, inputs: Any) -> Any:
        """The engine's groups, timed while they are drawn (reading each group's input included,
        less the draws of another step's groups that feed it: facts feed story documents)."""
        rec = self.steps.setdefault(type(step).__name__, {"s": 0.0, "rows_in": 0, "rows_out": 0, "calls": 0})

        def counted() -> Any:
            for tables in inputs:
                rec["rows_in"] += tables[0].num_rows
                yield tables

        out = self.engine.gather_each(step, counted())

        def timed_next() -> Any:
            self._nested.append(0.0)
            start = time.perf_counter()
            self.timeline.step_enter()
            try:
                return next(out, None)
            finally:
                self.timeline.step_leave()
                took = time.perf_counter() - start
                own = took - self._nested.pop()
                rec["s"] += own
                self.timeline.charge("steps", own)
                if self._nested:
                    self._nested[-1] += took

        name = self._enter(step)
        try:
            while True:
                table = timed_next()
                if table is None:
                    return
                rec["rows_out"] += table.num_rows
                rec["calls"] += 1
                yield table
        finally:
            self._leave(name)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_engine(engine_name: str, shards: list[Path], out: Path, stages: list[str], cpus: int) -> dict[str, Any]:
    """Run the pipeline on ``shards`` with one engine; per-stage measurements."""
    from storyline import pipeline
    from storyline.config import PipelineConfig
    from storyline.engines.local import LocalEngine
    from storyline.store import Store

    if engine_name == "ray":
        from storyline.engines.ray import RayEngine
        base: Any = RayEngine(num_cpus=cpus)
        start = time.perf_counter()
        base.cpus()
        startup = time.perf_counter() - start
    else:
        base, startup = LocalEngine(workers=cpus), 0.0
    timeline = Timeline()
    for fname in Timeline.FUNCTIONS:
        timeline.wrap_function(pipeline, fname)
    timeline.wrap_store(Store)
    pipeline.ThreadPoolExecutor = timeline.pool(pipeline.ThreadPoolExecutor)
    engine = TimedEngine(base, timeline)
    cfg = PipelineConfig()
    shutil.rmtree(out, ignore_errors=True)
    store = Store(out)
    report = pipeline.Report()
    result: dict[str, Any] = {"engine": engine_name, "startup_s": startup, "stages": {}}
    plan = [("ingest", lambda shard: pipeline.ingest_new(store, [str(shard)], cfg, engine, report)),
            # as `storyline run`: what the corpus stages read first; quotes and figures run beside them
            ("per_article", lambda shard: pipeline.per_article(store, cfg, engine, pipeline.EARLY))]
    for name, fn in plan:
        if name not in stages:
            continue
        with Peak() as peak:
            start, cpu = time.perf_counter(), _tree_cpu(os.getpid())
            for shard in shards:  # streaming: one chunk at a time, as reruns on a growing store do
                fn(shard)
            wall = time.perf_counter() - start
        result["stages"][name] = {"s": wall, "cpu": _tree_cpu(os.getpid()) - cpu, "peak_rss": peak.peak,
                                  "peak_pss": peak.pss, "disk": _du(out), "timeline": timeline.take()}
    if "corpus" in stages:
        with Peak() as peak:
            start, cpu = time.perf_counter(), _tree_cpu(os.getpid())
            pipeline.corpus_stages(store, cfg, engine)
            wall = time.perf_counter() - start
        result["stages"]["corpus"] = {"s": wall, "cpu": _tree_cpu(os.getpid()) - cpu, "peak_rss": peak.peak,
                                      "peak_pss": peak.pss, "disk": _du(out), "timeline": timeline.take()}
    result["articles"] = store.read("articles", ["article_id"]).num_rows
    engine.close()
    result["steps"] = engine.steps
    result["memory"] = engine.memory
    result["ru_maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["ru_maxrss_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if engine_name == "ray":
        base.shutdown()
    return result


# ----------------------------------------------------------------------------------------------
# Reporting


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per (n, engine, stage), one per step, then the growth between sizes."""
    print(f"\n{'n':>9} {'engine':6} {'stage':12} {'wall s':>9} {'art/s':>9} {'peak RSS MB':>12} {'PSS MB':>9} "
          f"{'disk MB':>9}")
    for r in results:
        for stage, m in r["stages"].items():
            rate = r["n"] / m["s"] if m["s"] else float("inf")
            print(f"{r['n']:>9,} {r['engine']:6} {stage:12} {m['s']:9.1f} {rate:9,.0f} {_mb(m['peak_rss']):>12} "
                  f"{_mb(m.get('peak_pss', 0)):>9} {_mb(m['disk']):>9}")
        total = sum(m["s"] for m in r["stages"].values())
        print(f"{r['n']:>9,} {r['engine']:6} {'TOTAL':12} {total:9.1f} {r['n'] / total:9,.0f} "
              f"{_mb(max(m['peak_rss'] for m in r['stages'].values())):>12} "
              f"{_mb(max(m.get('peak_pss', 0) for m in r['stages'].values())):>9}   (ray start {r['startup_s']:.1f} s, "
              f"ru_maxrss self {_mb(r['ru_maxrss_self'])} MB, children {_mb(r['ru_maxrss_children'])} MB)")
    print(f"\n{'n':>9} {'engine':6} {'step':14} {'calls':>6} {'rows in':>12} {'rows out':>12} {'s':>9}")
    for r in results:
        for step, m in r["steps"].items():
            print(f"{r['n']:>9,} {r['engine']:6} {step:14} {m['calls']:6} {m['rows_in']:12,} {m['rows_out']:12,} "
                  f"{m['s']:9.1f}")
    print(f"\n{'n':>9} {'engine':6} {'peak RSS MB while':18} {'driver':>9} {'tree':>9}")
    for r in results:
        for step, m in sorted(r.get("memory", {}).items(), key=lambda kv: -kv[1]["driver"]):
            print(f"{r['n']:>9,} {r['engine']:6} {step:18} {_mb(m['driver']):>9} {_mb(m['tree']):>9}")
    print_timeline(results)
    engines = sorted({r["engine"] for r in results})
    by = {(r["n"], r["engine"]): r for r in results}
    ns = sorted({r["n"] for r in results})
    for ref in ("local",):
        if ref not in engines or "ray" not in engines:
            continue
        print(f"\nRay / {ref} wall time:")
        for n in ns:
            if (n, ref) in by and (n, "ray") in by:
                lo, ra = by[(n, ref)], by[(n, "ray")]
                ratios = {s: ra["stages"][s]["s"] / lo["stages"][s]["s"] for s in lo["stages"] if s in ra["stages"]}
                total = sum(m["s"] for m in ra["stages"].values()) / sum(m["s"] for m in lo["stages"].values())
                print(f"  n={n:,}: " + ", ".join(f"{s} {v:.2f}x" for s, v in ratios.items()) + f", total {total:.2f}x")
    if len(ns) > 1:
        print("\nGrowth: (cost at larger n / cost at smaller n) / (n ratio); 1.0 is linear")
        for e in engines:
            for a, b in zip(ns, ns[1:]):
                if (a, e) in by and (b, e) in by:
                    ra, rb = by[(a, e)], by[(b, e)]
                    k = b / a
                    parts = [f"{s} {rb['stages'][s]['s'] / ra['stages'][s]['s'] / k:.2f}" for s in ra["stages"]]
                    steps = [f"{s} {rb['steps'][s]['s'] / max(ra['steps'][s]['s'], 1e-9) / k:.2f}"
                             for s in ra["steps"] if s in rb["steps"]]
                    print(f"  {e} {a:,}->{b:,}: " + ", ".join(parts) + " | steps: " + ", ".join(steps))


WAITS = ("per_article",)  # stages whose thread only waits for the stages it started beside it


def print_timeline(results: list[dict[str, Any]]) -> None:
    """Per bench stage, the wall time of each pipeline stage function (:class:`Timeline`): the
    unindented rows not marked ``||`` sum to the bench stage's wall time with ``(outside stages)``.
    ``||`` marks a stage run on another thread beside its caller; ``steps`` and ``store`` are engine
    and store calls made under it, ``other`` the rest of its wall time (driver code). ``cores`` is
    the process tree's CPU time while the stage ran over its wall time (stages side by side share
    it): below the core count, workers idled."""
    print(f"\n{'n':>9} {'engine':6} {'stage / function':34} {'calls':>6} {'wall s':>8} {'steps s':>8} {'store s':>8} "
          f"{'other s':>8} {'driver MB':>10} {'cores':>6}")
    for r in results:
        for bench_stage, m in r["stages"].items():
            tl = m.get("timeline")
            if not tl:
                continue
            stages = tl["stages"]

            children: dict[str | None, list[str]] = {}
            for name, v in stages.items():  # in the order first started
                children.setdefault(v["parent"] if v["parent"] in stages else None, []).append(name)
            top = sum(v["s"] for v in stages.values() if v["parent"] is None and not v["side"])
            print(f"{r['n']:>9,} {r['engine']:6} {bench_stage.upper():34} {'':6} {m['s']:8.1f} {'':38} "
                  f"{m.get('cpu', 0.0) / max(m['s'], 1e-9):6.2f}")
            todo = [(name, 1) for name in reversed(children.get(None, []))]
            while todo:  # depth first: each stage under its caller
                name, depth = todo.pop()
                todo.extend((c, depth + 1) for c in reversed(children.get(name, [])))
                v = stages[name]
                other = v["s"] - v["steps"] - v["store"] - v["children"]
                if name.rsplit("/", 1)[1].removeprefix("|| ") in WAITS:
                    other -= max([stages[c]["s"] for c in children.get(name, []) if stages[c]["side"]], default=0)
                label = "  " * depth + name.rsplit("/", 1)[1]
                print(f"{r['n']:>9,} {r['engine']:6} {label:34} {v['calls']:6} {v['s']:8.1f} {v['steps']:8.1f} "
                      f"{v['store']:8.1f} {other:8.1f} {_mb(v['driver']):>10} {v.get('cpu', 0.0) / max(v['s'], 1e-9):6.2f}")
            print(f"{r['n']:>9,} {r['engine']:6} {'  (outside stages)':34} {'':6} {m['s'] - top:8.1f}")
            calls = ", ".join(f"{k} {v['calls']} x {v['s']:.1f} s" + (f" ({v['in_steps']:.1f} in steps)"
                                                                       if v["in_steps"] else "")
                              for k, v in sorted(tl["store"].items(), key=lambda kv: -kv[1]["s"]))
            print(f"{'':17}store calls: {calls}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10000])
    ap.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--chunk", type=int, default=50000, help="articles per ingest chunk (JSONL shard)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="local workers / Ray CPUs")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    ap.add_argument("--work", type=Path, default=Path("bench-out/scale"))
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--_one", nargs=3, metavar=("ENGINE", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    if args._one:  # the child process: one engine, one corpus
        engine, corpus, out = args._one
        res = run_engine(engine, sorted(Path(corpus).glob("part-*.jsonl")), Path(out), stages, args.cpus)
        print("RESULT " + json.dumps(res))
        return
    results = []
    for n in args.n:
        start = time.perf_counter()
        corpus = args.work / f"corpus-{n}-seed{args.seed}"
        shards = make_corpus(n, corpus, args.chunk, args.seed, args.data)
        print(f"corpus n={n:,}: {len(shards)} shards, {_mb(_du(corpus))} MB, {time.perf_counter() - start:.0f} s",
              flush=True)
        for engine in args.engines:
            cmd = [sys.executable, __file__, "--_one", engine, str(corpus), str(args.work / f"store-{n}-{engine}"),
                   "--cpus", str(args.cpus), "--stages", args.stages]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                print(f"n={n} {engine}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
                continue
            res = json.loads(line[-1][7:]) | {"n": n}
            results.append(res)
            print(f"n={n:,} {engine}: {sum(m['s'] for m in res['stages'].values()):.1f} s", flush=True)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
