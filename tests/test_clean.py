"""Tests for storyline.steps.clean: body recovery from text and HTML, and the Clean step."""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storyline import model
from storyline.config import CleanConfig
from storyline.steps import clean as clean_mod
from storyline.steps.base import REJECT_COLUMN, rebuild
from storyline.steps.clean import (Clean, Cleaned, chunk_site_lines, clean_html, clean_text, parse_date,
                                   site_boilerplate_lines)

SEEDS = Path(__file__).resolve().parents[2] / "shared/data/seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
CFG = CleanConfig()

COMMENT_HEAD = re.compile(r"^[^|]{1,60}\|\s*\d{1,2}/\d{1,2}/\d{4}")
TIMER = re.compile(r"^\d+(?:\.\d+)?\s*seconds?$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")

needs_seeds = pytest.mark.skipif(not SEED_FILES, reason="shared/data/seeds not found beside the checkout")


def _lines(text: str) -> list[str]:
    return [s.strip() for s in text.splitlines() if s.strip()]


def _page(content: str, kind: str = "text", **kw) -> dict:
    row = {
        "page_id": kw.get("page_id", "p1"),
        "path": kw.get("path", "/tmp/site-a/page.txt"),
        "record": 0,
        "source_kind": kind,
        "content": content,
        "url": kw.get("url"),
        "title": kw.get("title"),
        "outlet": kw.get("outlet"),
        "published": kw.get("published"),
        "extras": [],
    }
    return row


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=model.PAGE)


PROSE = (
    "The council voted on Tuesday to approve the new budget, which raises spending on schools and roads. "
    "Officials said the plan would be reviewed again in the spring, after the first quarter's figures are in."
)


# ------------------------------------------------------------------------------------------
# Seeds: generic checks only.


@needs_seeds
@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_clean_seed_drops_boilerplate(path: Path) -> None:
    body = _lines(clean_text(path.read_text(encoding="utf-8"), CFG).text)
    assert body, "no body recovered"
    for line in body:
        assert not COMMENT_HEAD.match(line), f"comment header kept: {line!r}"
        assert not TIMER.match(line), f"page timer kept: {line!r}"
        assert not EMAIL.search(line), f"e-mail line kept: {line!r}"


@needs_seeds
@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_clean_seed_keeps_quoted_paragraphs(path: Path) -> None:
    page = path.read_text(encoding="utf-8")
    body = set(_lines(clean_text(page, CFG).text))
    comments = _comment_text_lines(page)
    for line in _lines(page):
        if len(line) >= 200 and re.search("[\"“”]", line) and line not in comments:
            assert line in body, f"article paragraph dropped: {line[:80]!r}"


def _comment_text_lines(page: str) -> set[str]:
    """Lines directly under a ``Name | date`` comment header (reader comments, not article text)."""
    lines = _lines(page)
    return {lines[i + 1] for i, s in enumerate(lines[:-1]) if COMMENT_HEAD.match(s)}


@needs_seeds
@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_clean_seed_drops_comments_and_short_chrome(path: Path) -> None:
    page = path.read_text(encoding="utf-8")
    body = _lines(clean_text(page, CFG).text)
    assert not set(body) & _comment_text_lines(page)
    # Sign-in prompts, buttons, related-story teasers: short lines with no sentence end.
    chrome = [s for s in body if len(s.split()) <= 6 and not s.endswith((".", "?", "!", "”", '"', ":"))]
    assert len(chrome) <= 1, chrome  # at most a subheading


@needs_seeds
def test_clean_seed_metadata_from_byline() -> None:
    pages = {p.name: clean_text(p.read_text(encoding="utf-8"), CFG) for p in SEED_FILES}
    with_byline = [c for c in pages.values() if c.byline]
    assert with_byline, "no byline found on any seed"
    for c in with_byline:
        assert c.published is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", c.published)
        assert c.title and not c.title.endswith(".")


@needs_seeds
def test_clean_module_has_no_seed_phrases() -> None:
    source = Path(clean_mod.__file__).read_text(encoding="utf-8").lower()
    for path in SEED_FILES:
        for line in _lines(path.read_text(encoding="utf-8")):
            if len(line.split()) >= 3:
                assert line.lower() not in source, f"seed phrase in clean.py: {line!r}"


# ------------------------------------------------------------------------------------------
# Text mode on invented pages.


def test_clean_text_menu_and_comments_removed() -> None:
    page = "\n".join(
        ["Home", "World", "Sports", "Login", "", "Budget passes after long debate", "", "By Jane Doe 3/4/2021", ""]
        + [PROSE, "", PROSE.replace("council", "board"), "", PROSE.replace("Tuesday", "Monday"), ""]
        + ["Comments", "Sam Reader | 5/4/2021", "This is a long reader comment that says a lot of things."]
        + ["Pat | 6/4/2021", "Another reader comment that goes on and on about the budget.", "", "0.231 seconds"]
    )
    c = clean_text(page, CFG)
    body = _lines(c.text)
    assert len(body) == 3 and all("council" in s or "board" in s or "Monday" in s for s in body)
    assert c.title == "Budget passes after long debate"
    assert c.byline == "Jane Doe"
    assert c.published == "2021-04-03"
    assert c.outlet is None  # a person's byline names no outlet


def test_clean_text_organisation_byline_is_outlet() -> None:
    page = f"Top story today here\n\nBy Wirehouse 22/7/2017\n\n{PROSE}\n\n{PROSE}"
    c = clean_text(page, CFG)
    assert c.outlet == "Wirehouse" and c.published == "2017-07-22"


def test_clean_text_site_lines_dropped() -> None:
    footer = "Our newsroom is independent and we thank all the readers who support our work every day."
    page = f"{PROSE}\n\n{footer}\n\n{PROSE.replace('council', 'board')}"
    assert footer in clean_text(page, CFG).text
    assert footer not in clean_text(page, CFG, frozenset({footer})).text


@pytest.mark.parametrize(
    "caption",
    [
        "Workers clear the road after the storm (Image: Getty)",
        "Photo by Ann Example",
        "A view of the harbour at dusk. Credit: Example Agency",
        "Ann Example/Example Times/Getty Images",
        "The old mill, pictured in 1950 (AP Photo/Ann Example)",
    ],
)
def test_clean_text_drops_photo_credits(caption: str) -> None:
    page = f"{PROSE}\n\n{caption}\n\n{PROSE.replace('council', 'board')}"
    body = _lines(clean_text(page, CFG).text)
    assert caption not in body and len(body) == 2


def test_clean_text_keeps_prose_mentioning_photos() -> None:
    line = "The photographer said her image of the flood had been shared by thousands of people online."
    page = f"{PROSE}\n\n{line}\n\n{PROSE.replace('council', 'board')}"
    assert line in _lines(clean_text(page, CFG).text)


@pytest.mark.parametrize(
    ("s", "iso"),
    [
        ("22/7/2017", "2017-07-22"),
        ("3/21/2019 7:50:37 PM", "2019-03-21"),
        ("2019-11-18T10:00", "2019-11-18"),
        ("November 18, 2019 11:03 PM", "2019-11-18"),
        ("Nov. 18, 2019", "2019-11-18"),
        ("18 November 2019", "2019-11-18"),
        ("22.07.2017", "2017-07-22"),
        ("no date here", None),
        ("99/99/2019", None),
    ],
)
def test_clean_parse_date(s: str, iso: str | None) -> None:
    assert parse_date(s) == iso


def test_clean_site_boilerplate_lines() -> None:
    pages = [("a", "Menu\nStory one."), ("a", "Menu\nStory two."), ("a", "Menu\n Menu \nStory three."), ("b", "Menu")]
    assert site_boilerplate_lines(pages) == {"a": frozenset({"Menu"}), "b": frozenset()}
    assert site_boilerplate_lines(pages, min_pages=1)["b"] == frozenset({"Menu"})


PITCH = "Get the best of our reporting delivered to your inbox every morning, free of charge."


def _site_pages() -> pa.Table:
    """Three page-text pages of outlet a sharing a pitch line (one also printed by outlet b's page),
    a page of b, and an HTML page of a."""
    bodies = [PROSE, PROSE.replace("council", "board"), PROSE.replace("Tuesday", "Friday")]
    rows = [_page(f"{body}\n{PITCH}\nShared wire line about the storm damage.", page_id=f"a{i}", outlet="a")
            for i, body in enumerate(bodies)]
    rows.append(_page(f"{PROSE}\nShared wire line about the storm damage.", page_id="b0", outlet="b"))
    rows.append(_page(f"<html><body><p>{PITCH}</p></body></html>", kind="html", page_id="a9", outlet="a"))
    return _table(rows)


def test_chunk_site_lines_are_one_outlets_text_pages_only() -> None:
    pages = _site_pages()
    # The wire line is on b's page too: reprint evidence, not a's boilerplate. PROSE itself is on
    # one a page only (the others differ by a word).
    assert chunk_site_lines(pages, 3) == {"a": (PITCH,)}
    assert chunk_site_lines(pages, 4) == {}  # the HTML page does not count
    assert chunk_site_lines(pages, 0) == {}


def test_clean_drops_a_sites_repeated_line() -> None:
    pages = _site_pages().slice(0, 3)
    plain = Clean(CFG)(pages)
    assert all(PITCH in t for t in plain["text"].to_pylist())  # alone, each page keeps the pitch
    out = Clean(CFG, site_lines=chunk_site_lines(pages, 3))(pages)
    texts = out["text"].to_pylist()
    assert all(PITCH not in t and "schools and roads" in t for t in texts)


# ------------------------------------------------------------------------------------------
# Properties.

_text_lines = st.lists(
    st.one_of(
        st.sampled_from(["", "Home", "Sign up", "Jo | 1/2/2020", "0.5 seconds", "a@b.co", PROSE, PROSE[:60]]),
        st.text(min_size=0, max_size=120),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_text_lines)
def test_clean_text_never_adds_text(lines: list[str]) -> None:
    page = "\n".join(lines)
    source = {s.strip() for s in page.splitlines()}
    for line in clean_text(page, CFG).text.split("\n\n"):
        assert line == "" or line in source


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_text_lines)
def test_clean_text_idempotent(lines: list[str]) -> None:
    once = clean_text("\n".join(lines), CFG).text
    assert clean_text(once, CFG).text == once


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_clean_text_robust(page: str) -> None:
    c = clean_text(page, CFG)
    assert isinstance(c, Cleaned) and isinstance(c.text, str)


# ------------------------------------------------------------------------------------------
# HTML mode.


def test_clean_html_article() -> None:
    html = (
        "<html><head><title>Budget passes - Example News</title>"
        '<meta property="og:site_name" content="Example News">'
        '<meta name="author" content="Jane Doe"><meta property="article:published_time" content="2021-04-03">'
        "</head><body><nav><a href='/'>Home</a><a href='/w'>World</a></nav><article><h1>Budget passes</h1>"
        f"<p>{PROSE}</p><p>{PROSE.replace('council', 'board')}</p></article>"
        "<footer>Copyright Example News</footer></body></html>"
    )
    c = clean_html(html, CFG, url="https://www.example.com/a")
    assert "council voted" in c.text and "board voted" in c.text and "Home" not in c.text
    assert c.published == "2021-04-03"
    assert c.byline == "Jane Doe"
    assert c.outlet == "Example News"


def test_clean_html_empty() -> None:
    assert clean_html("", CFG).text == ""


@pytest.mark.parametrize(
    ("traf", "text_mode", "wins"),
    [
        ([], ["Some body."], True),  # trafilatura found nothing
        ([PROSE * 2], [PROSE * 2], False),  # both agree
        ([PROSE * 2], [PROSE * 2, PROSE.upper() * 3], True),  # trafilatura stopped early: text mode covers it
        ([PROSE * 2], ["Unrelated words " * 200], False),  # longer but a different page region
        ([PROSE * 2], [PROSE * 2, "x"], False),  # not enough longer
    ],
)
def test_clean_html_text_mode_rescue(traf: list[str], text_mode: list[str], wins: bool) -> None:
    assert clean_mod._text_mode_wins(traf, text_mode) is wins


def test_clean_html_drop_title() -> None:
    paras = ["Budget passes after long debate", PROSE]
    assert clean_mod._drop_title(paras, "Budget passes after long debate - Example News") == [PROSE]
    assert clean_mod._drop_title(paras, "Something else entirely") == paras
    assert clean_mod._drop_title(paras[:1], "Budget passes after long debate") == paras[:1]


def test_clean_shingle_support() -> None:
    ref = clean_mod._ShingleRef(PROSE)
    assert ref.support(PROSE.upper()) == 1.0
    assert ref.support("the new budget") == 1.0 and ref.support("no such words") == 0.0
    assert ref.support("") == 0.0


# ------------------------------------------------------------------------------------------
# The step.


def test_clean_step_rows() -> None:
    rows = [
        _page(f"Headline about things here\n\n{PROSE}\n\n{PROSE}", page_id="t", url="https://www.site.org/x"),
        _page(f"  {PROSE}\n\n\n\n{PROSE}  \n", kind="jsonl", page_id="j", outlet="Wire", title="T"),
        _page(f"<html><body><article><p>{PROSE}</p><p>{PROSE}</p></article></body></html>", kind="html",
              page_id="h", path="/data/mysite.html"),
    ]
    out = Clean()(_table(rows)).to_pylist()
    by_id = {r["article_id"]: r for r in out}
    assert all(r[REJECT_COLUMN] is None for r in out)
    assert by_id["t"]["outlet"] == "site.org" and by_id["t"]["title"] == "Headline about things here"
    assert by_id["j"]["text"] == f"{PROSE}\n\n{PROSE}" and by_id["j"]["outlet"] == "Wire"
    assert by_id["h"]["outlet"] == "mysite" and "council" in by_id["h"]["text"]
    assert "council" in by_id["h"]["raw_text"]


@pytest.mark.parametrize(
    ("content", "kind", "reason"),
    [
        ("", "text", "no_article"),
        ("Home\nNews", "text", "no_article"),
        ("\x00\x01\x02\ufffd" * 50, "text", "binary"),
        ("\x00\x01\x02\ufffd" * 50, "html", "binary"),
        ("<html><body><div>", "html", "no_article"),
        ("", "jsonl", "no_article"),
    ],
)
def test_clean_step_rejects_garbage(content: str, kind: str, reason: str) -> None:
    out = Clean()(_table([_page(content, kind=kind)])).to_pylist()
    assert len(out) == 1 and out[0][REJECT_COLUMN] == reason and out[0]["text"] == ""
    assert out[0]["article_id"] == "p1" and out[0]["outlet"]


def test_is_binary_counts_controls_and_replacement_characters() -> None:
    import unicodedata

    # Bad: U+FFFD and every control character (category Cc) but tab, newline, form feed, return.
    for c in map(chr, range(0x3000)):
        bad = c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\n\r\t\f")
        assert clean_mod.is_binary(c) == bad, hex(ord(c))
    assert not clean_mod.is_binary("\ufffd" + "x" * 19) and clean_mod.is_binary("\x0b" + "x" * 18)  # > 5%
    assert not clean_mod.is_binary("x" * 20000 + "\x00" * 2000)  # only the first 20,000 characters count


def test_clean_step_error_becomes_reject(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a, **k):
        raise RuntimeError("bad page")

    monkeypatch.setattr(clean_mod, "clean_text", boom)
    out = Clean()(_table([_page(PROSE)])).to_pylist()
    assert out[0][REJECT_COLUMN] == "clean_error: RuntimeError"


def test_clean_step_site_lines() -> None:
    footer = "Our newsroom is independent and we thank all the readers who support our work every day."
    row = _page(f"{PROSE}\n\n{footer}\n\n{PROSE}", outlet="a")
    out = Clean(site_lines={"a": (footer,)})(_table([row])).to_pylist()
    assert footer not in out[0]["text"]


def test_clean_step_contract() -> None:
    step = Clean(config=CleanConfig(min_body_chars=10), site_lines={"a": ("x",)})
    again = pickle.loads(pickle.dumps(rebuild(step)))
    assert again == step
    empty = again(model.PAGE.empty_table())
    assert empty.num_rows == 0 and empty.schema == Clean.output_schema


def test_clean_step_missing_column() -> None:
    with pytest.raises(ValueError, match="reads"):
        Clean()(pa.table({"page_id": ["x"]}))


def test_clean_dateline_is_not_title_and_staff_byline_names_outlet():
    page = ("Home | News | Sign in\n\nBridge reopens after two years of repairs, city says\n\nBy Northern Post Staff\n"
            "June 9, 2024\n\n" + "The city reopened the old river bridge on Sunday after two years of repairs, "
            "officials said, and traffic returned to the centre within hours of the ceremony.\n\n" * 3)
    c = clean_text(page, CleanConfig())
    assert c.title == "Bridge reopens after two years of repairs, city says"
    assert c.published == "2024-06-09" and c.outlet == "Northern Post"


def test_clean_html_trim_edges() -> None:
    paras = ["Newsletter", PROSE, PROSE.upper(), "Related", "Links"]
    junk = clean_mod.np.array([0.9, 0.1, 0.6, 0.2, 0.8])
    assert clean_mod._trim_edges(paras, junk) == paras[1:4]  # the middle stays whatever its score
    assert clean_mod._trim_edges(paras[:2], clean_mod.np.array([0.9, 0.9])) == paras[1:2]  # one stays
    assert clean_mod._trim_edges([], clean_mod.np.array([])) == []


def test_clean_html_trims_newsletter_box() -> None:
    html = (
        "<html><head><title>Budget passes</title></head><body><article>"
        f"<p>{PROSE}</p><p>{PROSE.replace('council', 'board')}</p><p>{PROSE.replace('Tuesday', 'Monday')}</p>"
        "<p>Sign up for our newsletter</p></article></body></html>"
    )
    text = clean_html(html, CFG).text
    assert "council voted" in text and "Monday" in text and "newsletter" not in text


def test_clean_html_paragraph_features_shape() -> None:
    x = clean_mod.paragraph_features([PROSE, "Home"], ["Home"], "Budget", "", PROSE)
    assert x.shape == (2, len(clean_mod.TRIM_MEAN)) and clean_mod.np.isfinite(x).all()
    assert len(clean_mod.TRIM_W) == x.shape[1] + 1


def test_clean_region_falls_back_to_best_line() -> None:
    np = clean_mod.np
    words = np.full(5, 10.0)
    no_barrier = np.zeros(5, dtype=bool)
    # Some line scores as body: the region is the positive run.
    assert clean_mod._region(np.array([-3.0, 2.0, 1.0, -3.0, -3.0]), words, no_barrier) == (1, 3)
    # No line does: the line whose neighbourhood scores highest, never a barrier line.
    z = np.array([-5.0, -4.0, -0.5, -0.4, -6.0])
    assert clean_mod._region(z, words, no_barrier) == (2, 3)
    assert clean_mod._region(z, words, np.array([False, False, True, False, False])) == (3, 4)
    assert clean_mod._region(z[:1], words[:1], np.ones(1, dtype=bool)) == (0, 0)


def test_clean_line_features_count_sentences() -> None:
    x = clean_mod.line_features(["Home", PROSE])
    assert x.shape == (2, len(clean_mod.MEAN1)) and clean_mod.np.isfinite(x).all()
    assert x[0, -1] == 0 and x[1, -1] > 0  # the log count of sentence ends is the last column


def test_clean_line_features_flag_truncated_teasers() -> None:
    # A teaser cut off by an ellipsis right after a word is flagged (next to last column); a pause
    # (" …") and a full stop are not.
    x = clean_mod.line_features(["Microsoft offers a new bundle plus JBL he...", "And then …", PROSE])
    assert list(x[:, -2]) == [1.0, 0.0, 0.0]
    assert clean_mod.MD_W1[-3] == 0  # the markdown weights leave the flag out


def test_clean_line_features_cjk_lengths() -> None:
    # A Japanese sentence is one \w+ run: its CJK characters count as words, and 。 ends sentences.
    ja = "これが非常に困ったもの。何が困るかといえば、管理ソフトの起動ショートカットキーと同じなのです。"
    x = clean_mod.line_features([ja, "Home"])
    assert clean_mod.math.expm1(x[0, 1]) >= 15  # log1p of the word count
    assert x[0, 2] == 1 and x[0, -1] == clean_mod.math.log1p(2)  # terminal, two sentence ends
    assert x[0, 20] > 0  # the ideographic comma counts as a comma


def test_clean_markdown_pages_use_their_own_weights() -> None:
    assert clean_mod._is_markdown(["Menu", "# Title", PROSE])
    assert clean_mod._is_markdown(["Menu", f"The **mayor** said so. {PROSE}"])
    assert clean_mod._is_markdown(["a | b", "---|---"])
    assert not clean_mod._is_markdown(["Menu", "* Home", "Q&A | 2019", PROSE, "#1 in sales", "2 * 3 = 6"])
    w = clean_mod.default_weights()
    assert w.md is not None and len(w.md.w1) == len(w.w1)
    page = ["# Council votes", "* Home", "* News", PROSE]
    md = clean_mod.score_lines(page, frozenset(), w)
    plain = clean_mod.score_lines(page, frozenset(), dataclasses.replace(w, md=None))
    assert md[-1] > md[1] and not clean_mod.np.allclose(md, plain)


_LIST = [
    "* Spending on schools rises by a tenth, the largest increase in a decade for the district.",
    "* Road repairs start in the spring and should be finished before the end of the summer.",
]
_AFTER = PROSE.replace("Tuesday", "Monday")
_LIST_PAGE = f"Home\nNews\nSport\n\n{PROSE}\n\n" + "\n".join(_LIST) + f"\n\n{_AFTER}\n\nPrivacy policy\nTerms of use"


def test_clean_block_features_are_page_relative() -> None:
    w = clean_mod.default_weights()
    lines, gaps = clean_mod._split(_LIST_PAGE)
    feats, block = clean_mod.block_features(clean_mod._stages(lines, frozenset(), w), gaps)
    assert block.tolist() == [0, 0, 0, 1, 2, 2, 3, 4, 4]  # blocks are runs between blank lines
    assert feats.shape == (5, len(w.block.w) - 1) == (5, len(w.block.mean))
    assert feats[:, 3].sum() == pytest.approx(1.0)  # shares of the page's words
    assert feats[0, 1] < 0 and feats[0, 2] < feats[1, 2]  # the menu scores below the region and the body
    region = (feats[:, 4] == 0) & (feats[:, 5] == 0)  # log blocks before / after the densest region
    assert region[1:4].any() and feats[0, 4] > 0 and feats[4, 5] > 0
    assert feats[2, 9] == 1.0 and feats[1, 9] == 0.0  # the list's bullets
    assert 0.0 <= feats[0, 6] <= 1.0 and len(set(feats[:, 6])) == 1  # the page's kept share


def test_clean_text_block_model_drops_whole_blocks() -> None:
    # A block model that drops bullet blocks: the whole list goes and the prose stays, on plain text only.
    w = clean_mod.default_weights()
    n = len(w.block.mean)
    coef = clean_mod.np.zeros(n + 1)
    coef[9], coef[-1] = -10.0, 5.0
    lists_out = dataclasses.replace(w, block=clean_mod._Logistic(clean_mod.np.zeros(n), clean_mod.np.ones(n), coef))
    plain = clean_mod.body_text(_LIST_PAGE, CFG, weights=dataclasses.replace(w, block=None))
    assert PROSE in plain and _AFTER in plain and all(item in plain for item in _LIST)
    out = clean_mod.body_text(_LIST_PAGE, CFG, weights=lists_out)
    assert PROSE in out and _AFTER in out and not any(item in out for item in _LIST)
    assert clean_mod.body_text(out, CFG, weights=lists_out) == out
    assert clean_text(_LIST_PAGE, CFG).text == clean_mod.body_text(_LIST_PAGE, CFG)


def test_clean_text_keeps_a_list_its_body_announces() -> None:
    # Bullets right after a kept sentence ending in a colon are the body's own list: kept even by a
    # block model that drops every bulleted block; the same list after a full stop still goes.
    assert clean_mod._introduced_lists(["Menu:", "* a", "Intro:", "* b", "- c", "d", "* e"],
                                       clean_mod.np.array([False, False, True, False, False, True, False])).tolist() == [
        False, False, False, True, True, False, False]
    w = clean_mod.default_weights()
    n = len(w.block.mean)
    coef = clean_mod.np.zeros(n + 1)
    coef[9], coef[-1] = -10.0, 5.0
    lists_out = dataclasses.replace(w, block=clean_mod._Logistic(clean_mod.np.zeros(n), clean_mod.np.ones(n), coef))
    announced = _LIST_PAGE.replace(PROSE, PROSE[:-1] + ":")
    out = clean_mod.body_text(announced, CFG, weights=lists_out)
    assert PROSE[:-1] + ":" in out and _AFTER in out and all(item in out for item in _LIST)
    assert clean_mod.body_text(out, CFG, weights=lists_out) == out
    assert not any(item in clean_mod.body_text(_LIST_PAGE, CFG, weights=lists_out) for item in _LIST)


def test_clean_numbered_list_follows_its_first_item() -> None:
    # A numbered list (1, 2, 3, ... in order, other lines allowed between items) takes its first item's
    # decision, down to the end of its last item's block; comment lines stay out; two items are no list.
    np = clean_mod.np
    lines = ["Intro.", "1) Lego set", "link", "2) Toy car", "link", "3) Board game", "link", "4) Film",
             "link", "Footer", "1. Top story", "2. Other story", "3. Third story", "1. a", "2. b"]
    gaps = [True, True, False, True, False, True, False, True, False, True, True, False, False, True, False]
    keep = np.array([True, True, True, True, True, False, False, False, False, False,
                     False, True, True, True, False])
    comments = np.zeros(len(lines), dtype=bool)
    comments[6] = True
    clean_mod._follow_first_items(lines, gaps, keep, comments)
    assert keep.tolist() == [True, True, True, True, True, True, False, True, True, False,
                             False, False, False, True, False]


_TABLE = [f"{i}     Driver {name}     {5040 - 7 * i}     {i % 4}" for i, name in
          enumerate(["Ames", "Brook", "Cole", "Dunn", "Eady", "Ford", "Gray"], 1)]
_MENU = ["* Home", "* Results 2019", "* Drivers 2019", "* Teams 2019", "* Contact"]


def test_clean_text_keeps_the_table_of_a_page_without_prose() -> None:
    # A page whose body is a results table: rows that start alike with a number; the bulleted menu
    # shares a pattern too but is no table. With prose on the page the rule stays out of the way.
    page = "\n".join(_MENU) + "\n\nStandings\n\n" + "\n".join(_TABLE) + "\n\nPrivacy policy\nTerms of use"
    out = clean_mod.body_text(page, CFG)
    assert all(row in out for row in _TABLE) and not any(item in out for item in _MENU)
    assert clean_mod.body_text(out, CFG) == out
    lines, gaps = clean_mod._split(page)
    keep = clean_mod.np.zeros(len(lines), dtype=bool)
    never = keep.copy()
    never[len(_MENU) + 3] = True  # a comment line inside the table stays out
    clean_mod._table_fallback(lines, gaps, keep, never, clean_mod.np.ones(len(lines)))
    assert [lines[i] for i in clean_mod.np.flatnonzero(keep)] == _TABLE[:2] + _TABLE[3:]
    keep = clean_mod.np.zeros(len(lines), dtype=bool)
    keep[len(_MENU)] = True  # "Standings", made to weigh 40 words: enough body kept, no fallback
    clean_mod._table_fallback(lines, gaps, keep, never, clean_mod.np.full(len(lines), 40.0))
    assert keep.sum() == 1


def test_clean_site_line_weight_is_fitted() -> None:
    # Stage one has learned that a line repeated on other pages of the site is not body, and that
    # lowers the neighbours' stage-two scores too (both weight sets).
    assert clean_mod.W1[14] < 0 and clean_mod.MD_W1[14] < 0
    footer = "Share this story with your friends"
    lines = [PROSE, footer, "Read the latest", PROSE.replace("council", "board")]
    w = clean_mod.default_weights()
    plain = clean_mod.score_lines(lines, frozenset(), w)
    site = clean_mod.score_lines(lines, frozenset({footer}), w)
    assert site[1] < plain[1] and site[2] < plain[2]


def test_clean_comment_section_heading_dropped() -> None:
    lines = [PROSE, "Comments", "Sam Reader | 5/4/2021", "A reader comment.", "Pat | 6/4/2021", "Another one."]
    gaps = [True, True, False, False, False, False]
    assert list(clean_mod._comment_lines(lines, gaps)) == [False, True, True, True, True, True]
    # Not a heading over its own block, nor a sentence.
    assert not clean_mod._comment_lines([PROSE, "Comments", "Sam | 5/4/2021"], [True, True, True])[1]
    assert not clean_mod._comment_lines(["I agree.", "Sam | 5/4/2021"], [True, False])[0]
