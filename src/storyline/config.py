"""One frozen config per stage, composed into :class:`PipelineConfig`, loaded from TOML.

Precedence: flags over file over defaults; a partial file overrides only the keys it sets.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .model import stable_id


def _check_range(owner: str, name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{owner}.{name}={value!r} is out of range; use a value in [{lo}, {hi}]")


@dataclass(frozen=True)
class IngestConfig:
    """How input files are read."""

    max_page_bytes: int = 20_000_000  # larger pages are rejected with reason "too_large"
    default_encoding: str = "utf-8"
    chunk_pages: int = 1000  # pages cleaned and committed together; a killed run loses at most one chunk

    def __post_init__(self) -> None:
        _check_range("ingest", "max_page_bytes", self.max_page_bytes, 1, 2**40)
        _check_range("ingest", "chunk_pages", self.chunk_pages, 1, 10**7)


@dataclass(frozen=True)
class CleanConfig:
    """Body recovery from HTML (trafilatura) and from whole-page text (line classifier)."""

    min_body_chars: int = 80  # a body shorter than this is rejected as "no_article"
    keep_threshold: float = 0.5  # line-classifier score above which a line is kept
    html_favor_recall: bool = False  # trafilatura's precision mode scores higher on extraction-dev
    timeout_s: float = 30.0  # a page that takes longer is rejected as "timeout" (0 = no limit)
    # A line on this many page-text pages of one outlet in an ingest chunk, and on no other
    # outlet's, is that site's boilerplate (0 = off). Lines shared across outlets are reprints.
    site_min_pages: int = 3

    def __post_init__(self) -> None:
        _check_range("clean", "keep_threshold", self.keep_threshold, 0.0, 1.0)
        _check_range("clean", "site_min_pages", self.site_min_pages, 0, 10**6)
        _check_range("clean", "min_body_chars", self.min_body_chars, 0, 10**7)
        _check_range("clean", "timeout_s", self.timeout_s, 0, 86400)


@dataclass(frozen=True)
class FingerprintConfig:
    """MinHash/LSH signatures for near-duplicates and rare word n-grams for partial reuse."""

    shingle_words: int = 5
    num_perm: int = 128
    bands: int = 32
    seed: int = 1
    gram_words: int = 5  # n-gram length for the partial-reuse index
    winnow_window: int = 8  # winnowing keeps >= 1 n-gram of any shared run of window+gram_words-1 (12) words

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ConfigError(
                f"fingerprint.num_perm={self.num_perm} is not a multiple of bands={self.bands}; "
                "pick bands among the divisors of num_perm (e.g. 16, 32)"
            )
        _check_range("fingerprint", "shingle_words", self.shingle_words, 1, 50)
        _check_range("fingerprint", "gram_words", self.gram_words, 3, 50)
        _check_range("fingerprint", "winnow_window", self.winnow_window, 1, 1000)


@dataclass(frozen=True)
class CandidatesConfig:
    """Which articles sharing keys become candidate pairs."""

    max_bucket: int = 50  # keys shared by more articles are too common to be evidence
    min_shared_grams: int = 2  # two disjoint 12-word runs: any shared passage of >= 24 words still qualifies

    def __post_init__(self) -> None:
        _check_range("candidates", "max_bucket", self.max_bucket, 2, 10**6)
        _check_range("candidates", "min_shared_grams", self.min_shared_grams, 1, 10**6)


@dataclass(frozen=True)
class AlignConfig:
    """Passage alignment of candidate pairs."""

    seed_words: int = 5  # exact word n-grams that anchor an alignment
    min_passage_words: int = 12
    max_gap_words: int = 6  # edits tolerated inside one passage
    extend_min_run: int = 2  # shortest exact run that grows a passage past its seeds (one shared word is chance)
    cluster_overlap: float = 0.5  # share of the shorter span two spans of one article overlap to be one reused text
    timeout_s: float = 10.0  # a pair that takes longer is rejected as "timeout" (0 = no limit)

    def __post_init__(self) -> None:
        _check_range("align", "seed_words", self.seed_words, 2, 50)
        _check_range("align", "min_passage_words", self.min_passage_words, 2, 10**5)
        _check_range("align", "max_gap_words", self.max_gap_words, 0, 1000)
        _check_range("align", "extend_min_run", self.extend_min_run, 1, 1000)
        _check_range("align", "cluster_overlap", self.cluster_overlap, 0.01, 1.0)  # 0 would merge any touching spans
        _check_range("align", "timeout_s", self.timeout_s, 0, 86400)


@dataclass(frozen=True)
class ClusterConfig:
    """Same-story clustering (streaming assignment to active stories)."""

    merge_threshold: float = 0.2  # merge probability to join the best active story (CV by event on basil-dev)
    window_days: int = 7  # a story stays active this many days after its last article
    reuse_min_words: int = 25  # shared passage words that make a reuse link decisive
    max_story_size: int = 500  # a larger story is cut in date order into parts flagged for review
    # New articles are clustered in time slices of at least this many (side by side on a pool or a
    # Ray cluster), each warmed up with the window before it; see cluster.plan_segments.
    segment_articles: int = 25_000

    def __post_init__(self) -> None:
        _check_range("cluster", "merge_threshold", self.merge_threshold, 0.0, 1.0)
        _check_range("cluster", "max_story_size", self.max_story_size, 2, 10**9)
        _check_range("cluster", "window_days", self.window_days, 0, 3650)
        _check_range("cluster", "reuse_min_words", self.reuse_min_words, 1, 10**6)
        _check_range("cluster", "segment_articles", self.segment_articles, 1, 10**12)


@dataclass(frozen=True)
class QuotesConfig:
    """Direct quotes and speaker attribution."""

    min_quote_words: int = 3
    min_confidence: float = 0.5  # quotes below (no speaker, unresolved "they") are dropped; CV-picked on PolNeAR
    timeout_s: float = 30.0  # an article that takes longer gets no quotes and a "timeout" reject (0 = no limit)

    def __post_init__(self) -> None:
        _check_range("quotes", "min_quote_words", self.min_quote_words, 1, 1000)
        _check_range("quotes", "min_confidence", self.min_confidence, 0.0, 1.0)
        _check_range("quotes", "timeout_s", self.timeout_s, 0, 86400)


@dataclass(frozen=True)
class FiguresConfig:
    """Numbers with their units."""

    timeout_s: float = 30.0  # an article that takes longer gets no figures and a "timeout" reject (0 = no limit)

    def __post_init__(self) -> None:
        _check_range("figures", "timeout_s", self.timeout_s, 0, 86400)


@dataclass(frozen=True)
class PipelineConfig:
    """Every stage's config."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    quotes: QuotesConfig = field(default_factory=QuotesConfig)
    figures: FiguresConfig = field(default_factory=FiguresConfig)


def config_id(cfg: Any) -> str:
    """A short stable hash of a config's resolved values (datatrove's MinhashConfig.__str__)."""
    return stable_id(json.dumps(dataclasses.asdict(cfg), sort_keys=True))[:12]


def merge(cfg: PipelineConfig, overrides: dict[str, dict[str, Any]]) -> PipelineConfig:
    """Return ``cfg`` with the keys in ``overrides`` replaced; unknown keys raise ConfigError."""
    stages = {f.name for f in dataclasses.fields(PipelineConfig)}
    changes = {}
    for stage, values in overrides.items():
        if stage not in stages:
            raise ConfigError(f"unknown config section [{stage}]; allowed: {', '.join(sorted(stages))}")
        current = getattr(cfg, stage)
        known = {f.name for f in dataclasses.fields(current)}
        if not isinstance(values, dict):
            raise ConfigError(f"[{stage}] must be a table of keys, got {values!r}")
        bad = set(values) - known
        if bad:
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(bad))} in [{stage}]; allowed: {', '.join(sorted(known))}"
            )
        try:
            changes[stage] = dataclasses.replace(current, **values)
        except TypeError as exc:
            raise ConfigError(f"[{stage}]: {exc}") from exc
    return dataclasses.replace(cfg, **changes)


def load(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> PipelineConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides``."""
    cfg = PipelineConfig()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        cfg = merge(cfg, data)
    if overrides:
        cfg = merge(cfg, overrides)
    return cfg
