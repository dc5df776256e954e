"""Human-readable output for the CLI (rich)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .config import PipelineConfig
from .steps import ingest
from .steps.base import REJECT_COLUMN
from .steps.clean import Clean

SNIPPET = 110


def _snip(s: str, n: int = SNIPPET) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def clean_pages(inputs: list[str], cfg: PipelineConfig) -> Iterator[dict[str, Any]]:
    """``{path, record, title, text}`` (or ``reject``) for every input page."""
    step = Clean(cfg.clean)
    for item in ingest.read(inputs, cfg.ingest):
        if isinstance(item, ingest.Reject):
            yield {"path": item.path, "record": item.record, "title": None, "text": None, "reject": item.reason}
            continue
        pages, _ = ingest.to_tables([item])
        row = step(pages).to_pylist()[0]
        out = {"path": row["path"], "record": row["record"], "title": row["title"], "text": row["text"]}
        if row[REJECT_COLUMN]:
            out["reject"] = row[REJECT_COLUMN]
        yield out


def print_summary(console: Console, results: Any) -> None:
    """A per-story summary: articles, reuse, unique passages, quotes, figures."""
    rep = results.report
    if rep is not None:
        console.print(
            f"[bold]{rep.pages_read}[/] inputs read, [bold]{rep.articles_added}[/] new articles, "
            f"{rep.skipped_existing} already in the store, [bold]{rep.rejected}[/] rejected, "
            f"[bold]{rep.stories}[/] stories in {results.store.root}"
        )
    for story in results.stories():
        _print_story(console, story)


def _print_story(console: Console, s: dict[str, Any]) -> None:
    names = {a["article_id"]: f"{a['outlet']}" for a in s["articles"]}
    console.rule(Text(f"{s['title'] or s['story_id']}", style="bold"))
    console.print(f"story {s['story_id']} · {s['size']} article(s) · outlets: {', '.join(s['outlets'])} · "
                  f"independent sources: {s['independent_sources']}", markup=False)
    t = Table("article", "outlet", "published", "role", "title", box=None)
    for a in s["articles"]:
        t.add_row(a["article_id"], a["outlet"], a["published"] or "", a["role"], _snip(a["title"] or "", 60))
    console.print(t)
    texts = {a["article_id"]: a["text"] for a in s["articles"]}
    for e in s["edges"]:
        console.print(f"reuse: {names[e['copy_id']]} shares {e['shared_words']} words with {names[e['source_id']]} "
                      f"(direction: {e['reason']})", markup=False)
    for p in s["shared"]:
        console.print(Text(f"  shared {p['words']}w: “{_snip(texts[p['a_id']][p['a_start']:p['a_end']])}”"))
    for aid in texts:
        uniq = [u for u in s["unique"] if u["article_id"] == aid]
        if uniq:
            console.print(Text(f"only in {names[aid]} ({len(uniq)} passages):", style="bold"))
            for u in uniq[:5]:
                console.print(Text(f"  · {_snip(texts[aid][u['start']:u['end']])}"))
    if s["quotes"]:
        console.print(Text("quotes:", style="bold"))
        for q in s["quotes"]:
            console.print(Text(f"  {q['speaker'] or '?'} ({names[q['article_id']]}): “{_snip(q['quote'], 90)}”"))
    if s["figures"]:
        console.print(Text("figures:", style="bold"))
        for f in s["figures"]:
            console.print(Text(f"  {names[f['article_id']]}: {f['surface']} ({f['value']:g} {f['unit'] or ''})"))
