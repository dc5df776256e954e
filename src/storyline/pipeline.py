"""The pipeline, in one screen: which step reads what, and how the store is kept current.

    ingest -> clean -> articles ─┬─ fingerprint -> keys -> candidates -> pairs -> align -> alignments (+ rejects)
                                 │                                                  ├ direction -> edges
                                 │                                                  └ reuse clusters -> reuse_clusters
                                 ├─ terms ──────────── cluster(articles, terms, edges) -> stories
                                 ├─ quotes ──┐
                                 └─ figures ─┴──────── compare(stories, articles, alignments, figures, quotes) -> facts
                                                       story docs(stories, articles, ..., facts) -> docs

Per-article stages (clean, fingerprint, terms, quotes, figures) only process articles they have
not seen, so a rerun on the same store adds new articles without redoing old ones, and an
interrupted run resumes where it stopped. Corpus-wide stages are redone when any input table
changed. Quotes and figures run beside clustering when the engine has workers.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import export, model
from .config import AlignConfig, PipelineConfig, config_id
from .engines import Engine, get_engine
from .engines.base import concat, key_ranges, release_memory
from .steps import ingest
from .steps.align import Align, Direction, ReuseClusters, pair_passages
from .steps.base import REJECT_COLUMN
from .steps.candidates import Candidates, CountPairs, shared_rows, sum_keys
from .steps.clean import Clean, chunk_site_lines
from .steps.cluster import Cluster, ClusterSegment, CountDF, Segment, Stitch, Terms, segment_input, strong_edges
from .steps.compare import Compare
from .steps.docs import ARTICLE_COLUMNS, OWNER, StoryDocs
from .steps.figures import Figures
from .steps.fingerprint import Fingerprint
from .steps.quotes import Quotes
from .store import KeyIndex, Store

log = logging.getLogger("storyline")

# (table, step factory) for the stages that run once per article.
PER_ARTICLE: list[tuple[str, Callable[[PipelineConfig], Any]]] = [
    ("keys", lambda c: Fingerprint(c.fingerprint)),
    ("quotes", lambda c: Quotes(c.quotes)),
    ("figures", lambda c: Figures(c.figures)),
    ("terms", lambda c: Terms()),
]
EARLY = ("keys", "terms")  # what the stages before comparison read: candidate keys and clustering terms


def validate(cfg: PipelineConfig) -> None:
    """Check before any data moves that every step reads columns an earlier table produces."""
    produced = {"articles": model.ARTICLE, "keys": model.BAND_KEY, "pairs": model.CANDIDATE_PAIR,
                "edges": model.REUSE_EDGE, "stories": model.STORY_MEMBER}
    checks = [(Clean(cfg.clean), model.PAGE), (Fingerprint(cfg.fingerprint), produced["articles"]),
              (Quotes(cfg.quotes), produced["articles"]), (Figures(), produced["articles"]),
              (Candidates(cfg.candidates), produced["keys"]), (CountPairs(cfg.candidates), produced["pairs"]),
              (Cluster(cfg.cluster), produced["articles"]), (Compare(), produced["stories"]),
              (Terms(), produced["articles"]), (CountDF(), model.CLUSTER_TERMS),
              (ReuseClusters(cfg.align), model.ALIGNMENT)]
    for step, schema in checks:
        missing = [c for c in step.reads if c not in schema.names]
        if missing:
            raise ValueError(f"{type(step).__name__} reads {missing}, which its input table does not have")


@dataclass
class Report:
    """What a run did: counts per stage."""

    pages_read: int = 0
    articles_added: int = 0
    rejected: int = 0
    stories: int = 0
    skipped_existing: int = 0


def _split_rejects(table: pa.Table, stage: str) -> tuple[pa.Table, pa.Table]:
    """Split a step's output into its good rows and REJECT rows for its ``_reject`` ones.

    Rows of pages carry ``path``/``record``/``article_id``; rows of pairs (``a_id``, ``b_id``) get
    ``a_id|b_id`` as their path: the pair, not a file.
    """
    bad = pc.is_valid(table[REJECT_COLUMN])
    good = table.filter(pc.invert(bad)).drop_columns([REJECT_COLUMN])
    rej = table.filter(bad)
    reasons = rej[REJECT_COLUMN].to_pylist()
    n = rej.num_rows
    if "path" in rej.column_names:
        where = {"path": rej["path"], "record": rej["record"], "page_id": rej["article_id"]}
    else:
        where = {"path": [f"{a}|{b}" for a, b in zip(rej["a_id"].to_pylist(), rej["b_id"].to_pylist())],
                 "record": pa.nulls(n, pa.int64()), "page_id": pa.nulls(n, pa.string())}
    rejects = pa.table(
        {"path": where["path"], "record": where["record"], "stage": pa.array([stage] * n, pa.string()),
         "reason": pa.array([r.split(":")[0] for r in reasons], pa.string()),
         "detail": pa.array(reasons, pa.string()), "page_id": where["page_id"]},
        schema=model.REJECT,
    )
    return good, rejects


def _pair_view(pairs: pa.Table, articles: pa.Table, cols: list[str]) -> pa.Table:
    """``pairs`` whose two articles are in ``articles``, in ``(a_id, b_id)`` order, with
    ``a_<col>`` and ``b_<col>`` columns from ``articles`` (nested pair columns last)."""
    # Positions, not a join: a join would copy the texts once into its output and again in the sort.
    nested = [f.name for f in pairs.schema if pa.types.is_nested(f.type)]
    view = pairs.sort_by([("a_id", "ascending"), ("b_id", "ascending")])
    at = {p: pc.index_in(view[f"{p}_id"], value_set=articles["article_id"]) for p in ("a", "b")}
    found = pc.and_(pc.is_valid(at["a"]), pc.is_valid(at["b"]))
    if not pc.all(found).as_py():
        view, at = view.filter(found), {p: a.filter(found) for p, a in at.items()}
    flat = view.drop_columns(nested)
    for p in ("a", "b"):
        side = articles.select(cols).take(at[p])
        for c in cols:
            flat = flat.append_column(f"{p}_{c}", side[c])
    for name in nested:
        flat = flat.append_column(name, view[name])
    return flat


def _align_id(cfg: AlignConfig) -> str:
    """The alignments' config id: every align key but ``cluster_overlap``, which only shapes reuse_clusters."""
    return config_id(dataclasses.replace(cfg, cluster_overlap=AlignConfig.cluster_overlap))


_REJECTS = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _rewrites_rejects(fn: F) -> F:
    """Stages that run side by side (see corpus_stages) each rewrite the rejects table: one at a time."""
    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _REJECTS:
            return fn(*args, **kwargs)
    return locked  # type: ignore[return-value]


@_rewrites_rejects
def _set_stage_rejects(store: Store, stage: str, rejects: pa.Table) -> None:
    """Make ``rejects`` the rejects of ``stage``: a stage that reruns replaces its old rows, never piles them up."""
    old = store.read("rejects", schema=model.REJECT)
    mine = pc.equal(old["stage"], stage)
    if rejects.num_rows == 0 and not pc.any(mine).as_py():
        return  # nothing to add or drop: leave the ingest-owned table untouched
    for reason in sorted(set(rejects["reason"].to_pylist())):
        log.warning("%s rejected %d record(s) (%s); see the rejects table", stage,
                    rejects["reason"].to_pylist().count(reason), reason)
    table = pa.concat_tables([old.filter(pc.invert(mine)), rejects])
    stats = dict(Counter(f"dropped_{r}" for r in table["reason"].to_pylist()))
    store.replace("rejects", table, "rejects", stats=stats)


def ingest_new(store: Store, inputs: Iterable[str], cfg: PipelineConfig, engine: Any, report: Report) -> None:
    """Read inputs and clean, chunk by chunk, the pages the store has not seen; append articles and rejects.

    On a parallel engine the next chunk is read, parsed and sifted on one thread, and the last one
    written on another, while the workers clean this one.
    """
    seen = set(store.read("articles", ["article_id"], model.ARTICLE)["article_id"].to_pylist())
    old_rejects = store.read("rejects", schema=model.REJECT)
    seen |= {p for p in old_rejects["page_id"].to_pylist() if p}
    known_rejects = {(r["path"], r["record"], r["reason"]) for r in old_rejects.to_pylist()}

    def sifted(pages: pa.Table, rejects: pa.Table) -> tuple[int, pa.Table, pa.Table, Clean]:
        mask = []
        for pid in pages["page_id"].to_pylist():  # skip stored pages and repeats within this run
            mask.append(pid not in seen)
            seen.add(pid)
        new = pages.filter(pa.array(mask, pa.bool_()))
        report.skipped_existing += pages.num_rows - new.num_rows
        return pages.num_rows + rejects.num_rows, new, rejects, Clean(
            cfg.clean, site_lines=chunk_site_lines(new, cfg.clean.site_min_pages))

    chunks = (sifted(*ingest.to_tables(chunk)) for chunk in _chunks(ingest.read(inputs, cfg.ingest), cfg.ingest.chunk_pages))
    parallel = getattr(engine, "parallel", False)
    if parallel:
        chunks = _read_ahead(chunks)
    with ThreadPoolExecutor(1, thread_name_prefix="storyline-write") as writer:
        written = None
        for n_read, new, rejects, step in chunks:
            report.pages_read += n_read
            articles, clean_rejects = _split_rejects(engine.map(step, new), "clean")
            all_rejects = pa.concat_tables([rejects, clean_rejects])
            keys = [(r["path"], r["record"], r["reason"]) for r in all_rejects.to_pylist()]
            all_rejects = all_rejects.filter(pa.array([k not in known_rejects for k in keys], pa.bool_()))
            known_rejects.update(keys)
            for reason in sorted(set(all_rejects["reason"].to_pylist())):
                log.warning("rejected input (%s); see the rejects table", reason)
            if written is not None:
                written.result()  # in order, one chunk at a time; its error stops the run here
            if parallel:
                written = writer.submit(_write_chunk, store, articles, all_rejects, cfg)
            else:
                _write_chunk(store, articles, all_rejects, cfg)
            report.articles_added += articles.num_rows
            report.rejected += all_rejects.num_rows
        if written is not None:
            written.result()


def _write_chunk(store: Store, articles: pa.Table, rejects: pa.Table, cfg: PipelineConfig) -> None:
    # Rejects first: a crash between the two writes re-reads the page instead of losing it.
    stats = dict(Counter(f"dropped_{r}" for r in rejects["reason"].to_pylist()))
    if rejects.num_rows or store.manifest("rejects") is None:
        store.append("rejects", rejects, "rejects", stats=stats)
    if articles.num_rows or store.manifest("articles") is None:
        store.append("articles", articles.cast(model.ARTICLE), config_id(cfg.clean))


def _read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items``, drawn by a thread at most ``depth`` ahead of the caller; its error is raised here,
    in order, and it stops when the caller does."""
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            put("error", exc)

    thread = threading.Thread(target=fill, name="storyline-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ahead.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield value
    finally:
        stop.set()
        thread.join(timeout=10)  # it notices between items; a read blocked on stdin is left to die with the process


def _chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for it in items:
        chunk.append(it)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    yield chunk  # possibly empty, so a run on nothing new still writes its manifests


def _stage_rejects(store: Store, stage: str, out: pa.Table, part: str) -> pa.Table:
    """Move ``out``'s ``_reject`` rows (records that timed out or raised) to the rejects table; return the rest.

    Rejects are written before the stage's output, and rows already stored for (stage, article) are
    skipped, so a run killed between the two writes neither loses nor repeats them on resume.
    """
    bad = pc.is_valid(out[REJECT_COLUMN])
    good = out.filter(pc.invert(bad)).drop_columns([REJECT_COLUMN])
    rej = out.filter(bad).select(["article_id", REJECT_COLUMN])
    if not rej.num_rows:
        return good
    where = store.read_part("articles", part, ["article_id", "path", "record"])
    _, rejects = _split_rejects(rej.join(where, "article_id").sort_by("article_id"), stage)
    _append_stage_rejects(store, stage, rejects)
    return good


@_rewrites_rejects
def _append_stage_rejects(store: Store, stage: str, rejects: pa.Table) -> None:
    old = store.read("rejects", ["stage", "page_id"], model.REJECT)
    have = {p for s, p in zip(old["stage"].to_pylist(), old["page_id"].to_pylist()) if s == stage}
    rejects = rejects.filter(pa.array([p not in have for p in rejects["page_id"].to_pylist()], pa.bool_()))
    if rejects.num_rows:
        for reason in sorted(set(rejects["reason"].to_pylist())):
            log.warning("%s: %d article(s) rejected (%s); see the rejects table", stage,
                        rejects["reason"].to_pylist().count(reason), reason)
        stats = dict(Counter(f"dropped_{r}" for r in rejects["reason"].to_pylist()))
        store.append("rejects", rejects, "rejects", stats=stats)


@_rewrites_rejects
def _drop_stage_rejects(store: Store, stage: str) -> None:
    """Forget ``stage``'s rejects when it starts over (new config): they belong to the old outputs."""
    old = store.read("rejects", schema=model.REJECT)
    mine = pc.equal(old["stage"], stage)
    if old.num_rows and pc.any(mine).as_py():
        keep = old.filter(pc.invert(mine))
        store.replace("rejects", keep, "rejects",
                      stats=dict(Counter(f"dropped_{r}" for r in keep["reason"].to_pylist())))


def per_article(store: Store, cfg: PipelineConfig, engine: Any, tables: Iterable[str] | None = None) -> None:
    """Run the per-article stages (those writing ``tables``, default all) over the article parts
    each has not processed yet.

    A step whose output has a ``_reject`` column (a record past its ``timeout_s``, or one that raised)
    keeps the article: that article gets no rows from the stage and a rejects row with the stage's name.
    On a parallel engine the stages run side by side (one driver thread each), so no worker waits
    while one stage reads or writes a part or finishes its last batch.
    """
    stages = [(name, make) for name, make in PER_ARTICLE if tables is None or name in tables]
    if not getattr(engine, "parallel", False) or len(stages) < 2:
        for name, make in stages:
            _per_article_stage(store, cfg, engine, name, make(cfg))
        return
    with ThreadPoolExecutor(len(stages), thread_name_prefix="storyline-stage") as pool:
        running = [pool.submit(_per_article_stage, store, cfg, engine, name, make(cfg)) for name, make in stages]
        for job in running:
            job.result()  # the first error, once every stage has stopped


def _per_article_stage(store: Store, cfg: PipelineConfig, engine: Any, name: str, step: Any) -> None:
    cid = config_id(step.config) if hasattr(step, "config") else type(step).__name__
    manifest = store.manifest(name) or {}
    done = set(manifest.get("done_parts", [])) if manifest.get("config_id") == cid else set()
    if not done:
        _drop_stage_rejects(store, name)
    for part in store.manifest("articles")["parts"]:
        if part in done:
            continue
        articles = store.read_part("articles", part, list(step.reads))
        out = engine.map(step, articles)
        if REJECT_COLUMN in out.column_names:
            out = _stage_rejects(store, name, out, part)
        done.add(part)
        store.append(name, out, cid, done_parts=sorted(done))


STORY_GROUP_ARTICLES = 2_000  # articles whose stories are compared (or documented) together: bounds memory


def story_groups(store: Store, stories: pa.Table, min_rows: int | None = None) -> list[pa.Table]:
    """``stories`` (membership rows) cut into groups of whole stories of about ``min_rows``
    (default :data:`STORY_GROUP_ARTICLES`) articles.

    Groups follow where each story's first article is stored, so a group's articles sit in few
    row groups and :meth:`Store.take` reads little besides them.
    """
    stories = stories.sort_by([("story_id", "ascending"), ("article_id", "ascending")])
    pos = pa.array(store.locations("articles", stories["article_id"]))
    first = stories.append_column("_pos", pos).group_by("story_id").aggregate([("_pos", "min")])
    order = pa.table({"story_id": first["story_id"], "_first": first["_pos_min"]})
    # join on the row number, not the table: Arrow's join does not keep row order
    keyed = stories.append_column("_row", pa.array(np.arange(stories.num_rows, dtype=np.int64)))
    keyed = keyed.join(order, "story_id").sort_by("_row").drop_columns(["_row"])
    size = STORY_GROUP_ARTICLES if min_rows is None else min_rows
    return [g.drop_columns(["_first"]) for g in key_ranges(keyed, "story_id", size, first="_first")]


def _story_inputs(store: Store, groups: list[pa.Table], article_columns: list[str],
                  tables: tuple[str, ...]) -> Iterator[tuple[pa.Table, ...]]:
    """Per group of stories: its members, their articles' ``article_columns`` and the rows of
    ``tables`` they own (:data:`~storyline.steps.docs.OWNER`).

    Each table is read once, in one pass that spills every group's rows to its own file, not once
    (or one scattered row group at a time) per group: stories gather articles from all over the store.
    """
    if not groups:
        return
    ids = pa.concat_arrays([g["article_id"].combine_chunks() for g in groups])
    # one article -> group lookup shared by every table's partition
    group_of = KeyIndex(ids, np.repeat(np.arange(len(groups)), [g.num_rows for g in groups]))
    del ids
    owned = [store.partition(name, OWNER[name], group_of, None, len(groups), export.TABLES[name],
                             article_columns if name == "articles" else None) for name in ("articles", *tables)]
    for group, rows in zip(groups, zip(*owned)):
        yield (group, *rows)


KEY_BUCKET_ROWS = 4_000_000  # keys rows turned into candidate pairs together: bounds that stage's memory
PAIR_GROUP = 8192  # pairs aligned (or directed) together: bounds the texts in memory


def _pairs_stage(store: Store, cfg: PipelineConfig, engine: Any, bucket_rows: int = KEY_BUCKET_ROWS) -> None:
    """Candidate pairs from the keys, one bucket of band keys at a time.

    A key's rows all fall in one bucket, so a bucket's candidate rows are final; they are summed
    per pair at once (few rows per pair are left) and CountPairs sums those again over all buckets.
    """
    cid = config_id(cfg.candidates) + config_id(cfg.fingerprint)
    if store.is_current("pairs", cid, store.fingerprint("keys")):
        return
    n = -(-(store.manifest("keys") or {}).get("rows", 0) // bucket_rows)
    step, count = Candidates(cfg.candidates), CountPairs(cfg.candidates)
    summed = (sum_keys(engine.group(step, shared_rows(bucket)))
              for bucket in store.buckets("keys", "band_key", n, schema=model.BAND_KEY))
    if n <= 1:
        pairs = _count_pairs(engine, count, concat(list(summed), model.CANDIDATE_PAIR))
    else:
        # The buckets' sums (21M rows, 1.3 GB at 1M articles) go to disk by article (where it is
        # stored) as they come, so memory holds one bucket and one part, not all of them at once.
        parts = store.spill(summed, "a_id", n, lambda ids: store.locations("articles", ids) % n, model.CANDIDATE_PAIR)
        counted = []
        for part in parts:
            counted.append(engine.group(count, part))
            del part
            release_memory()
        pairs = concat(counted, count.output_schema)
        pairs = pairs.sort_by([("a_id", "ascending"), ("b_id", "ascending")])
    store.replace("pairs", pairs, cid, inputs=store.fingerprint("keys"))


COUNT_ROWS = 2_000_000  # candidate rows summed per pair together (21M rows at 1M articles)


def _count_pairs(engine: Any, step: CountPairs, counted: pa.Table, rows: int = COUNT_ROWS) -> pa.Table:
    """``step`` over ``counted`` in parts that each hold whole ``a_id`` groups (by the code of the
    id), so the sort and the batches sent to workers are a part's size, not the corpus's; the
    parts' outputs sorted by pair are exactly the output of one pass over all of it."""
    k = -(-counted.num_rows // rows)
    if k <= 1:
        return engine.group(step, counted)
    part = np.asarray(pc.dictionary_encode(counted["a_id"]).combine_chunks().indices) % k
    out = []
    for b in range(k):
        out.append(engine.group(step, counted.filter(pa.array(part == b))))
        release_memory()
    return concat(out, step.output_schema).sort_by([("a_id", "ascending"), ("b_id", "ascending")])


def _pair_groups(store: Store, pairs: pa.Table, rows: int) -> list[pa.Table]:
    """``pairs`` cut into groups of ``rows``, in the order their first-stored article is stored, so a
    group's texts sit in few row groups and :meth:`Store.take` reads little besides them."""
    first = np.minimum(store.locations("articles", pairs["a_id"]), store.locations("articles", pairs["b_id"]))
    ordered = pairs.take(pa.array(np.argsort(first, kind="stable")))
    return [ordered.slice(i, rows) for i in range(0, ordered.num_rows, rows)]


def _map_pairs(store: Store, engine: Any, step: Any, pairs: pa.Table, cols: list[str],
               rows: int = PAIR_GROUP) -> pa.Table:
    """``step`` mapped over :func:`_pair_view` of ``pairs``, reading the texts of one group of pairs at a time.

    The output is the one the whole view gives: rows back in ``(a_id, b_id)`` order by a stable sort.
    A step whose output names no pair (Direction) makes one row per pair, tagged with it here.
    """
    parts = []
    for group in _pair_groups(store, pairs, rows):
        ids = pc.unique(pa.concat_arrays([group["a_id"].combine_chunks(), group["b_id"].combine_chunks()]))
        view = _pair_view(group, store.take("articles", ids, ["article_id", *cols]), cols)
        out = engine.map(step, view)
        if "a_id" not in out.column_names:
            if out.num_rows != view.num_rows:
                raise ValueError(f"{type(step).__name__} names no pair in its rows, so it must make one per pair")
            out = out.append_column("a_id", view["a_id"]).append_column("b_id", view["b_id"])
        parts.append(out)
    if not parts:
        return step.output_schema.empty_table()
    out = pa.concat_tables(parts).sort_by([("a_id", "ascending"), ("b_id", "ascending")])
    return out.select(step.output_schema.names)


def _align_stage(store: Store, cfg: PipelineConfig, engine: Any) -> None:
    cid = _align_id(cfg.align)
    if store.is_current("alignments", cid, store.fingerprint("pairs")):
        return
    out = _map_pairs(store, engine, Align(cfg.align), store.read("pairs"), ["text"])
    alignments, rejects = _split_rejects(out, "align")
    # Rejects first, as in ingest: a crash before the alignments are written redoes the stage.
    _set_stage_rejects(store, "align", rejects)
    store.replace("alignments", alignments, cid, inputs=store.fingerprint("pairs"))


def _direction_stage(store: Store, engine: Any) -> None:
    inputs = store.fingerprint("alignments")
    if store.is_current("edges", "direction", inputs):
        return
    pairs = pair_passages(store.read("alignments", schema=model.ALIGNMENT))
    edges = _map_pairs(store, engine, Direction(), pairs, ["text", "published"])
    store.replace("edges", edges, "direction", inputs=inputs)


def corpus_stages(store: Store, cfg: PipelineConfig, engine: Any) -> None:
    """The per-article stages not run yet, then candidates, alignment, direction, clustering,
    comparison and documents over the whole store.

    Each corpus stage holds a bounded part of the corpus at a time (a bucket of keys, a group of
    pairs or of stories); stages are functions so that none keeps another's tables alive. Quotes
    and figures are read only by comparison: on an engine that runs steps outside this thread
    (``engine.parallel``) they are computed beside the reuse stages and clustering, whose driver
    code (partitioning, pair counting, writing) leaves workers idle that they fill.
    """
    per_article(store, cfg, engine, EARLY)
    late = [name for name, _ in PER_ARTICLE if name not in EARLY]
    with ThreadPoolExecutor(1, thread_name_prefix="storyline-late") as side:
        pending = side.submit(per_article, store, cfg, engine, late) if getattr(engine, "parallel", False) else None
        _reuse_stages(store, cfg, engine)
        release_memory()
        _stories_stage(store, cfg, engine)
    if pending is None:
        per_article(store, cfg, engine, late)
    else:
        pending.result()  # its error, if it raised
    release_memory()
    _story_stages(store, engine)
    release_memory()


def _reuse_stages(store: Store, cfg: PipelineConfig, engine: Any) -> None:
    _pairs_stage(store, cfg, engine)
    release_memory()  # the keys buckets are gone
    _align_stage(store, cfg, engine)
    # Edges and reuse clusters follow the alignments alone, so each is redone exactly when they change.
    _direction_stage(store, engine)
    inputs = store.fingerprint("alignments")
    cid = config_id(cfg.align)
    if not store.is_current("reuse_clusters", cid, inputs):
        clusters = engine.gather(ReuseClusters(cfg.align), store.read("alignments", schema=model.ALIGNMENT))
        store.replace("reuse_clusters", clusters, cid, inputs=inputs)


def _stories_stage(store: Store, cfg: PipelineConfig, engine: Any) -> None:
    """Cluster the new articles (all of them on a first run or a config change) into stories.

    The new articles are cut into time slices (:meth:`Cluster.plan`) that are clustered side by
    side, each reading only its own terms, then stitched into one stories table.
    """
    cid = config_id(cfg.cluster)
    inputs = store.fingerprint("articles") + store.fingerprint("edges", "corrections", "terms")
    if store.is_current("stories", cid, inputs):
        return
    step = Cluster(cfg.cluster)
    # Articles already placed keep their story (incremental add); a config change re-clusters all.
    same_cfg = (store.manifest("stories") or {}).get("config_id") == cid
    previous = store.read("stories", schema=model.STORY_MEMBER) if same_cfg else model.STORY_MEMBER.empty_table()
    # Stored document frequencies count exactly the articles of the stories written with them; else
    # (first run, config change, a run cut between the two writes) every article is counted again.
    df_meta = store.manifest("cluster_df") or {}
    fresh = same_cfg and df_meta.get("config_id") == cid and df_meta.get("inputs") == store.fingerprint("stories")
    df = store.read("cluster_df", schema=model.CLUSTER_DF) if fresh else model.CLUSTER_DF.empty_table()
    dates = store.read("articles", ["article_id", "published"])
    plan = step.plan(dates, previous)
    new = pa.array(sorted(a for seg in plan for a in seg.core), pa.string()) if fresh else None
    for terms in _term_chunks(store, new):
        df = engine.gather(CountDF(), terms, df)
    edges = strong_edges(store.read("edges", schema=model.REUSE_EDGE), cfg.cluster.reuse_min_words)
    decided = engine.gather_each(ClusterSegment(cfg.cluster), _segment_inputs(store, plan, dates, edges, previous, df))
    decisions = concat(list(decided), model.CLUSTER_DECISION)
    release_memory()  # the terms buckets are gone; Stitch builds Python rows
    stories = engine.gather(Stitch(cfg.cluster), dates, decisions, edges, previous,
                            store.read("corrections", schema=model.CORRECTION))
    store.replace("stories", stories, cid, inputs=inputs)
    store.replace("cluster_df", df, cid, inputs=store.fingerprint("stories"))


TERM_CHUNK = 32_000  # terms rows (one per article) counted together: ~50 MB of index lists, whatever the corpus


def _term_chunks(store: Store, ids: pa.Array | None, rows: int = TERM_CHUNK) -> Iterator[pa.Table]:
    """The terms of ``ids`` (every article's when None), a bounded chunk at a time, in stored order;
    nothing at all when there are none (the counts stay as they are)."""
    columns = list(CountDF.reads)
    schema = pa.schema([model.CLUSTER_TERMS.field(c) for c in columns])
    if ids is not None:
        if len(ids):
            yield store.take("terms", ids, columns)
        return
    held: list[pa.Table] = []
    for part in store.parts("terms"):
        held.append(store.read_part("terms", part.name, columns))
        if sum(t.num_rows for t in held) >= rows:
            yield concat(held, schema)
            held = []
    if held:
        yield concat(held, schema)


def _segment_inputs(store: Store, plan: list[Segment], dates: pa.Table, edges: pa.Table, previous: pa.Table,
                    df: pa.Table) -> Iterator[tuple[pa.Table, ...]]:
    """:class:`ClusterSegment`'s tables for each slice of ``plan``, with the slice's terms.

    One partition pass reads the terms: each slice's own articles in a bucket, the old articles
    to replay in one bucket read first. A slice's warm-up lies inside the slice before
    (:func:`~storyline.steps.cluster.plan_segments` cuts so), whose rows of it are kept for it.
    """
    if not plan:
        return
    replay = sorted({a for seg in plan for a in seg.replay})
    keys = pa.array([a for seg in plan for a in seg.core] + replay, pa.string())
    bucket = np.concatenate([np.repeat(np.arange(1, len(plan) + 1), [len(seg.core) for seg in plan]),
                             np.zeros(len(replay), np.int64)])
    slice_of = KeyIndex(keys, bucket)
    del keys, bucket, replay
    parts = store.partition("terms", "article_id", slice_of, None, len(plan) + 1, model.CLUSTER_TERMS)
    old, before = next(parts), model.CLUSTER_TERMS.empty_table()
    for k, (seg, own) in enumerate(zip(plan, parts)):
        terms = concat([own, before.filter(pc.is_in(before["article_id"], pa.array(seg.warm, pa.string()))),
                        old.filter(pc.is_in(old["article_id"], pa.array(seg.replay, pa.string())))],
                       model.CLUSTER_TERMS)
        held = [segment_input(k, seg, dates, edges, previous, df, terms)]
        # Only the next slice's warm-up is kept of this bucket (a few MB, not the whole slice's terms).
        warm = plan[k + 1].warm if k + 1 < len(plan) else []
        before = own.filter(pc.is_in(own["article_id"], pa.array(warm, pa.string())))
        del own, terms
        # Popped as it is yielded: this frame holds nothing of the slice while the engine clusters it
        # (the engine lets it go once sent).
        yield held.pop()
        release_memory()  # the slice sent is gone: its freed buffers would add to the next slices'


def _story_stages(store: Store, engine: Any) -> None:
    """Facts (:class:`Compare`) and story documents (:class:`StoryDocs`) of bounded groups of
    whole stories: one read of the tables they share, and each group's facts go straight on to
    its documents (several groups at once on a pool). Facts commit before documents, whose
    inputs name them; a run stopped between the two redoes the documents alone."""
    facts_inputs = store.fingerprint("stories", "alignments", "figures", "quotes")
    if store.is_current("facts", "compare", facts_inputs):
        _docs_stage(store, engine)
        return
    groups = story_groups(store, store.read("stories", schema=model.STORY_MEMBER))
    rows = _story_inputs(store, groups, ARTICLE_COLUMNS, ("alignments", "edges", "figures", "quotes"))
    held: deque[tuple[pa.Table, ...]] = deque()
    facts_parts: list[str] = []

    def compared() -> Iterator[tuple[pa.Table, ...]]:
        for group in rows:
            held.append(group)
            members, articles, alignments, _, figures, quotes = group
            yield members, articles, alignments, figures, quotes

    def with_facts() -> Iterator[tuple[pa.Table, ...]]:
        for facts in engine.gather_each(Compare(), compared()):
            facts = facts.cast(model.FACT)
            if facts.num_rows:
                facts_parts.append(store.write_part("facts", facts))
            yield (*held.popleft(), facts)

    docs_parts = [store.write_part("docs", t) for t in engine.gather_each(StoryDocs(), with_facts()) if t.num_rows]
    store.commit_parts("facts", facts_parts, "compare", model.FACT, inputs=facts_inputs)
    store.commit_parts("docs", docs_parts, "docs", model.STORY_DOC, inputs=_docs_inputs(store))


def _docs_inputs(store: Store) -> str:
    return store.fingerprint("stories", "facts", "quotes", "edges", "articles")


def _docs_stage(store: Store, engine: Any) -> None:
    inputs = _docs_inputs(store)
    if store.is_current("docs", "docs", inputs):
        return
    groups = story_groups(store, store.read("stories", schema=model.STORY_MEMBER))
    rows = _story_inputs(store, groups, ARTICLE_COLUMNS, ("alignments", "edges", "figures", "quotes", "facts"))
    store.replace_parts("docs", engine.gather_each(StoryDocs(), rows), "docs", model.STORY_DOC, inputs=inputs)


def run(
    inputs: Iterable[str],
    out: str | Path = "storyline-out",
    config: PipelineConfig | None = None,
    engine: str | Engine = "local",
    workers: int = 1,
    address: str | None = None,
) -> tuple[Store, Report]:
    """Run every stage on ``inputs`` into the store at ``out``; finished work is skipped.

    Args:
        inputs: files, folders, or ``-`` for stdin.
        out: the store folder (created if missing).
        config: the pipeline config (defaults if None).
        engine: ``local``, ``ray`` (``pip install -e .[ray]``) or an engine object.
        workers: local processes; for ray, the CPUs of a private local Ray (1 = all).
        address: ray only: ``auto`` (join ``ray start`` on this host) or ``ray://host:port``;
            None starts a private local Ray.

    Returns:
        The store and a :class:`Report` of what this run added.

    Raises:
        InputError: an input path does not exist.
        StoreError: ``out`` exists and is not a storyline store.
    """
    cfg = config or PipelineConfig()
    validate(cfg)
    store = Store(out)
    eng = get_engine(engine, workers, address) if isinstance(engine, str) else engine
    report = Report()
    ingest_new(store, list(inputs), cfg, eng, report)
    corpus_stages(store, cfg, eng)
    store.write_duckdb()
    report.stories = store.read("docs", ["story_id"]).num_rows
    return store, report
