"""Records and the Arrow schema of every stage boundary, in one place.

Every table a stage writes has a schema here. ``text`` of an :class:`Article` is frozen after
``clean``; everything downstream points into it with character offsets ``[start, end)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import xxhash

__all__ = [
    "ALIGNMENT",
    "ARTICLE",
    "BAND_KEY",
    "CANDIDATE_PAIR",
    "CORRECTION",
    "FACT",
    "FIGURE",
    "PAGE",
    "QUOTE",
    "REUSE_CLUSTER",
    "REUSE_EDGE",
    "REUSE_EDIT",
    "STORY_DOC",
    "REJECT",
    "STORY_MEMBER",
    "UNIQUE",
    "Article",
    "Page",
    "stable_id",
]


def stable_id(*parts: object) -> str:
    """A 16-hex-digit id that is the same on every machine and run (xxhash64 of the parts)."""
    return xxhash.xxh64("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Page:
    """One input record as read from disk, before cleaning."""

    page_id: str
    path: str
    record: int
    source_kind: str  # text | html | jsonl | warc
    content: str
    url: str | None = None
    title: str | None = None
    outlet: str | None = None
    published: str | None = None
    extras: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Article:
    """A cleaned article: ``text`` is the recovered body that every offset indexes into."""

    article_id: str
    path: str
    record: int
    url: str | None
    outlet: str
    published: str | None
    title: str
    byline: str | None
    text: str
    raw_text: str
    source_kind: str
    lang: str = "en"
    extras: dict[str, str] = field(default_factory=dict)


_EXTRAS = pa.map_(pa.string(), pa.string())

PAGE = pa.schema(
    [
        ("page_id", pa.string()),
        ("path", pa.string()),
        ("record", pa.int64()),
        ("source_kind", pa.string()),
        ("content", pa.large_string()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("outlet", pa.string()),
        ("published", pa.string()),
        ("extras", _EXTRAS),
    ]
)

ARTICLE = pa.schema(
    [
        ("article_id", pa.string()),
        ("path", pa.string()),
        ("record", pa.int64()),
        ("url", pa.string()),
        ("outlet", pa.string()),
        ("published", pa.string()),
        ("title", pa.string()),
        ("byline", pa.string()),
        ("text", pa.large_string()),
        ("raw_text", pa.large_string()),
        ("source_kind", pa.string()),
        ("lang", pa.string()),
        ("extras", _EXTRAS),
    ]
)

REJECT = pa.schema(
    [
        ("path", pa.string()),
        ("record", pa.int64()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("page_id", pa.string()),  # set when the page was read but could not be cleaned
    ]
)

# One row per (article, LSH band) for near-duplicates, and per rare n-gram for partial reuse.
BAND_KEY = pa.schema(
    [
        ("article_id", pa.string()),
        ("kind", pa.string()),  # "band" (MinHash LSH) | "gram" (passim-style n-gram)
        ("band_key", pa.uint64()),
    ]
)

CANDIDATE_PAIR = pa.schema(
    [
        ("a_id", pa.string()),
        ("b_id", pa.string()),
        ("shared_keys", pa.int64()),
        ("via", pa.string()),
    ]
)

ALIGNMENT = pa.schema(
    [
        ("a_id", pa.string()),
        ("a_start", pa.int64()),
        ("a_end", pa.int64()),
        ("b_id", pa.string()),
        ("b_start", pa.int64()),
        ("b_end", pa.int64()),
        ("score", pa.float64()),
        ("words", pa.int64()),
        ("edits", pa.string()),  # JSON list of [a_word, b_word] substitutions inside the passage
    ]
)

# One change the copier made: the source's words and what the copy has instead ("" = dropped / added).
# Words are the aligner's normalised words (case-folded, inner dots dropped: "U.S." and "US" are equal).
REUSE_EDIT = pa.struct([("source_words", pa.string()), ("copy_words", pa.string())])

# Directed reuse: source -> copy, one row per article pair that shares passages.
REUSE_EDGE = pa.schema(
    [
        ("source_id", pa.string()),
        ("copy_id", pa.string()),
        ("shared_words", pa.int64()),
        ("containment", pa.float64()),  # share of the copy's words that come from the source
        ("reason", pa.string()),  # why this direction: date | containment | credit | undecided
        # The pair's alignment edits read source -> copy, in the source's text order; for an
        # "undecided" edge source_id is just the smaller id, so the orientation is still stable.
        ("edits", pa.list_(REUSE_EDIT)),
    ]
)

# Passages merged across the corpus: one row per (cluster, article) carrying the same reused text.
REUSE_CLUSTER = pa.schema(
    [
        ("cluster_id", pa.string()),  # stable: the hash of the cluster's first (article_id, start)
        ("article_id", pa.string()),
        ("start", pa.int64()),  # the article's span of the reused text, [start, end) into its `text`
        ("end", pa.int64()),
        ("passages", pa.int64()),  # aligned passages of this article merged into the span
    ]
)

STORY_MEMBER = pa.schema(
    [
        ("story_id", pa.string()),
        ("article_id", pa.string()),
        ("role", pa.string()),  # origin | copy | reuse (direction unknown) | independent
        ("score", pa.float64()),
        ("review", pa.bool_()),  # the story outgrew cluster.max_story_size and was split: check it
    ]
)

QUOTE = pa.schema(
    [
        ("quote_id", pa.string()),
        ("article_id", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("quote", pa.string()),
        ("speaker", pa.string()),  # resolved full name, or None
        ("speaker_mention", pa.string()),  # the words in the text that name the speaker
        ("speaker_start", pa.int64()),
        ("speaker_end", pa.int64()),
        ("cue", pa.string()),
        ("confidence", pa.float64()),
    ]
)

FIGURE = pa.schema(
    [
        ("figure_id", pa.string()),
        ("article_id", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("surface", pa.string()),
        ("context", pa.string()),  # the sentence that carries the figure
    ]
)

UNIQUE = pa.schema(
    [
        ("story_id", pa.string()),
        ("article_id", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
    ]
)

# A story's facts: one row per (fact, carrying article) with that article's offsets.
FACT = pa.schema(
    [
        ("story_id", pa.string()),
        ("fact_id", pa.string()),
        ("kind", pa.string()),  # passage | unique | figure | quote
        ("article_id", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("label", pa.string()),
        ("status", pa.string()),  # shared | only_here | conflict
        ("outlets", pa.int64()),  # distinct outlets carrying the fact
        ("origins", pa.int64()),  # independent origin chains among the carriers
        ("detail", pa.string()),  # quotes: speaker and lineage (verbatim / trimmed / altered)
    ]
)

# The story documents that export, the API and the web UI show: built once per run, never per request.
STORY_DOC = pa.schema(
    [
        ("story_id", pa.string()),
        ("title", pa.string()),
        ("size", pa.int64()),
        ("outlets", pa.list_(pa.string())),
        ("first_seen", pa.string()),
        ("last_seen", pa.string()),
        ("independent_sources", pa.int64()),
        ("doc", pa.large_string()),  # the JSON document (README: export schema) less what steps.docs.restore gives
    ]
)

# Analyst corrections, stored by article so they survive re-clustering; applied in seq order.
CORRECTION = pa.schema(
    [
        ("correction_id", pa.string()),
        ("seq", pa.int64()),
        ("action", pa.string()),  # merge | split
        ("article_id", pa.string()),
        ("side", pa.string()),  # merge: member | split: moved, left
        ("created", pa.string()),  # ISO timestamp, UTC
    ]
)

# Clustering's hashed document frequencies over the articles of the stories table, so that an
# incremental add counts only its new articles: one row per (representation, term); term -1 holds
# the number of documents counted.
CLUSTER_DF = pa.schema([("rep", pa.int8()), ("term", pa.int64()), ("df", pa.int64())])

# Where one time slice of clustering put its new articles (``warm``: its warm-up, placed by the
# slice before; only used to join the two), before the slices are stitched into STORY_MEMBER.
CLUSTER_DECISION = pa.schema(
    [("segment", pa.int32()), ("article_id", pa.string()), ("story_id", pa.string()), ("score", pa.float64()),
     ("reason", pa.string()), ("warm", pa.bool_())]
)

# Clustering's per-article features: hashed term counts (2**20 buckets) of body, title and proper
# nouns as parallel index / count lists, and the article's normalised figures.
CLUSTER_TERMS = pa.schema(
    [("article_id", pa.string())]
    + [(f"{rep}_{part}", pa.list_(kind)) for rep in ("body", "title", "name")
       for part, kind in (("idx", pa.int32()), ("n", pa.uint16()))]
    + [("figures", pa.list_(pa.string()))]
)
