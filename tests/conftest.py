"""Shared fixtures: hand-built articles, the seed pages, and a temporary store."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from storyline import model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SEEDS = SHARED / "seeds"


def make_articles(*texts: str, outlets: list[str] | None = None, dates: list[str | None] | None = None) -> pa.Table:
    """An ARTICLE table built by hand (datatrove's make_docs)."""
    rows = []
    for i, text in enumerate(texts):
        rows.append({
            "article_id": f"a{i}", "path": f"a{i}.txt", "record": 0, "url": None,
            "outlet": (outlets or [f"outlet{i}" for _ in texts])[i], "published": (dates or [None] * len(texts))[i],
            "title": f"Title {i}", "byline": None, "text": text, "raw_text": text, "source_kind": "text",
            "lang": "en", "extras": [],
        })
    return pa.Table.from_pylist(rows, schema=model.ARTICLE)


@pytest.fixture
def seeds() -> Path:
    """The seed pages folder (skips when ../shared is not beside the checkout)."""
    if not SEEDS.is_dir():
        pytest.skip("../shared/data/seeds not found")
    return SEEDS
