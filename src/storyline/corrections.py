"""Analyst corrections to stories: merge stories, split articles off; kept and re-applied on every run.

A correction is stored by *article*, not by story id, so it survives a re-clustering that renames
stories. ``merge`` records every member of the merged stories (side ``member``); ``split`` records
the moved articles (side ``moved``) and the articles they were taken from (side ``left``).
:func:`apply` replays corrections in ``seq`` order after clustering, and is idempotent: a merge
whose articles already share a story, or a split whose moved articles no longer share a story
with any ``left`` article, changes nothing. New articles that joined either side later stay put.

Example:
    >>> rows = merge(stories, ["3f2a...", "9b1c..."])          # doctest: +SKIP
    >>> store.append("corrections", rows, "corrections")       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import model
from .errors import InputError

CORRECTION = model.CORRECTION


def _next_seq(corrections: pa.Table | None) -> int:
    if corrections is None or not corrections.num_rows:
        return 1
    return max(corrections["seq"].to_pylist()) + 1


def _rows(action: str, sides: list[tuple[str, str]], corrections: pa.Table | None, created: str | None) -> pa.Table:
    seq = _next_seq(corrections)
    created = created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    cid = model.stable_id("correction", action, seq, *sorted(a for a, _ in sides))
    return pa.Table.from_pylist(
        [{"correction_id": cid, "seq": seq, "action": action, "article_id": a, "side": s, "created": created}
         for a, s in sides],
        schema=CORRECTION,
    )


def _members(stories: pa.Table) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for s, a in zip(stories["story_id"].to_pylist(), stories["article_id"].to_pylist()):
        groups.setdefault(s, []).append(a)
    return groups


def merge(stories: pa.Table, story_ids: Sequence[str], corrections: pa.Table | None = None,
          created: str | None = None) -> pa.Table:
    """Correction rows that put every member of ``story_ids`` into one story.

    Args:
        stories: the current STORY_MEMBER table.
        story_ids: two or more story ids to merge.
        corrections: the corrections recorded so far (for the next ``seq``).
        created: timestamp to record (now, by default).

    Returns:
        CORRECTION rows to append to the store's ``corrections`` table.

    Raises:
        InputError: fewer than two distinct stories, or an id that is not a story.
    """
    groups = _members(stories)
    wanted = list(dict.fromkeys(story_ids))
    unknown = [s for s in wanted if s not in groups]
    if unknown:
        raise InputError(f"unknown story id(s) {', '.join(unknown)}; list them with `storyline export OUT --table stories`")
    if len(wanted) < 2:
        raise InputError("merge needs at least two different story ids")
    return _rows("merge", [(a, "member") for s in wanted for a in sorted(groups[s])], corrections, created)


def split(stories: pa.Table, article_ids: Sequence[str], corrections: pa.Table | None = None,
          created: str | None = None) -> pa.Table:
    """Correction rows that move ``article_ids`` out of their story into a new one of their own.

    Raises:
        InputError: an id is not in any story, the ids span several stories, or they are the whole story.
    """
    story_of = dict(zip(stories["article_id"].to_pylist(), stories["story_id"].to_pylist()))
    moved = list(dict.fromkeys(article_ids))
    unknown = [a for a in moved if a not in story_of]
    if unknown or not moved:
        raise InputError(f"unknown article id(s) {', '.join(unknown) or '(none given)'}; "
                         "list them with `storyline export OUT --table articles`")
    owners = {story_of[a] for a in moved}
    if len(owners) > 1:
        raise InputError(f"articles to split come from {len(owners)} stories; split one story at a time")
    left = sorted(a for a, s in story_of.items() if s in owners and a not in set(moved))
    if not left:
        raise InputError("those articles are the whole story; there is nothing to split them from")
    return _rows("split", [(a, "moved") for a in sorted(moved)] + [(a, "left") for a in left], corrections, created)


def apply(members: list[dict], corrections: pa.Table, order: Mapping[str, tuple]) -> list[dict]:
    """``members`` (dicts with story_id, article_id, ...) with ``corrections`` replayed in ``seq`` order.

    ``order`` gives each article's stream sort key; a merged story keeps the id of the story whose
    first article comes first, and a split-off story is named after its first moved article.
    """
    story_of = {m["article_id"]: m["story_id"] for m in members}
    by_seq: dict[int, list[dict]] = {}
    for row in corrections.to_pylist():
        by_seq.setdefault(row["seq"], []).append(row)
    for seq in sorted(by_seq):
        rows = [r for r in by_seq[seq] if r["article_id"] in story_of]
        if rows and rows[0]["action"] == "merge":
            _apply_merge(story_of, [r["article_id"] for r in rows], order)
        elif rows and rows[0]["action"] == "split":
            _apply_split(story_of, rows, order)
    return [{**m, "story_id": story_of[m["article_id"]]} for m in members]


def _first(story_of: dict[str, str], story_id: str, order: Mapping[str, tuple]) -> tuple:
    return min(order.get(a, (float("inf"), "", a)) for a, s in story_of.items() if s == story_id)


def _apply_merge(story_of: dict[str, str], article_ids: list[str], order: Mapping[str, tuple]) -> None:
    stories = {story_of[a] for a in article_ids}
    if len(stories) < 2:
        return
    target = min(stories, key=lambda s: (_first(story_of, s, order), s))
    for a, s in story_of.items():
        if s in stories:
            story_of[a] = target


def _apply_split(story_of: dict[str, str], rows: list[dict], order: Mapping[str, tuple]) -> None:
    moved = [r["article_id"] for r in rows if r["side"] == "moved"]
    left_stories = {story_of[r["article_id"]] for r in rows if r["side"] == "left"}
    pulled = sorted((a for a in moved if story_of[a] in left_stories),
                    key=lambda a: order.get(a, (float("inf"), "", a)))
    if not pulled:
        return
    new_id = model.stable_id("story", pulled[0])
    taken = {s for a, s in story_of.items() if a not in set(pulled)}
    if new_id in taken:
        new_id = model.stable_id("story", pulled[0], "split", rows[0]["correction_id"])
    for a in pulled:
        story_of[a] = new_id


def record(out: str | Path, action: str, ids: Sequence[str], config: Any = None) -> pa.Table:
    """Record a ``merge`` (story ids) or ``split`` (article ids) in the store at ``out``; refresh stories.

    What ``storyline story merge|split`` runs. The correction is appended to the store's
    ``corrections`` table, then the corpus stages rerun (clustering is incremental, so only the
    correction and what depends on it changes).

    Raises:
        InputError: an unknown action or id (see :func:`merge`, :func:`split`).
        StoreError: ``out`` is not a storyline store.
    """
    from . import pipeline  # the pipeline imports this module through the cluster step
    from .config import PipelineConfig
    from .engines import get_engine
    from .store import Store

    if action not in ("merge", "split"):
        raise InputError(f"unknown correction {action!r}; use merge (story ids) or split (article ids)")
    store = Store(out, create=False)
    stories = store.read("stories", schema=model.STORY_MEMBER)
    done = store.read("corrections", schema=CORRECTION)
    rows = (merge if action == "merge" else split)(stories, ids, done)
    store.append("corrections", rows, "corrections")
    pipeline.corpus_stages(store, config or PipelineConfig(), get_engine("local", 1))
    store.write_duckdb()
    return rows
