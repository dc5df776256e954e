"""An aligned pair's edits as the copier made them (source words -> copy words): what
:class:`~storyline.steps.align.Direction` stores on each reuse edge and the story documents
(:mod:`~storyline.steps.docs`) work out again from a story's alignments. Plain Python, so a
reader of documents does not load the alignment kernels."""

from __future__ import annotations

import json


def oriented_edits(edits: str | list, a_id: str, source_id: str) -> list[tuple[str, str]]:
    """An alignment's ``edits`` (``[a_words, b_words]`` pairs) as ``(source_words, copy_words)``.

    What the copier changed, for a directed edge: swap each pair when ``a`` is the copy.

    Example:
        >>> oriented_edits('[["many", "large numbers of"]]', a_id="x", source_id="y")
        [('large numbers of', 'many')]
    """
    pairs = json.loads(edits) if isinstance(edits, str) else edits
    return [(a, b) if a_id == source_id else (b, a) for a, b in pairs]


def edge_edits(passages: list[dict], a_id: str, source_id: str) -> list[dict[str, str]]:
    """A pair's passage edits as REUSE_EDIT rows (source words -> copy words) in the source's text order.

    Example:
        >>> ps = [{"a_start": 0, "b_start": 9, "edits": '[["many", "large numbers of"]]'},
        ...       {"a_start": 50, "b_start": 0, "edits": '[["", "senior"]]'}]
        >>> [(e["source_words"], e["copy_words"]) for e in edge_edits(ps, a_id="x", source_id="y")]
        [('senior', ''), ('large numbers of', 'many')]
    """
    side = ("a_start", "b_start") if a_id == source_id else ("b_start", "a_start")
    ordered = sorted(passages, key=lambda p: (p[side[0]], p[side[1]]))
    return [{"source_words": s, "copy_words": c}
            for p in ordered for s, c in oriented_edits(p["edits"] or "[]", a_id, source_id)]
