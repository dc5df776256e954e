"""Figures: numbers with units and what they count (invented sentences)."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyline import model
from storyline.config import FiguresConfig
from storyline.steps.base import params, rebuild, with_reject
from storyline.steps.figures import Figures, find_figures


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Officials said some 52,000 volunteers signed up.", [(52000.0, "volunteers", "52,000 volunteers")]),
        ("The city offered a $12 million reward.", [(12e6, "USD", "$12 million")]),
        ("Turnout fell to 9 percent in the north.", [(9.0, "percent", "9 percent")]),
        ("Turnout fell to 9% in the north.", [(9.0, "percent", "9%")]),
        ("Prices rose 4.5 per cent last month.", [(4.5, "percent", "4.5 per cent")]),
        ("Rescuers found three people alive.", [(3.0, "people", "three people")]),
        ("Some 2.3 billion dollars were moved.", [(2.3e9, "USD", "2.3 billion dollars")]),
        ("The fund lost €4bn and £250m.", [(4e9, "EUR", "€4bn"), (250e6, "GBP", "£250m")]),
        ("Fewer than 8,000 armed river pirates remain.", [(8000.0, "pirates", "8,000 armed river pirates")]),
        ("Twenty five teachers and two million pupils went home.",
         [(25.0, "teachers", "Twenty five teachers"), (2e6, "pupils", "two million pupils")]),
        ("She holds a 12-point lead.", [(12.0, "point", "12-point")]),
    ],
)
def test_figures_normalise(text: str, expected: list[tuple[float, str, str]]) -> None:
    got = [(f.value, f.unit, f.surface) for f in find_figures(text)]
    assert got == expected


@pytest.mark.parametrize(
    "text",
    [
        "The group was founded in 2014 and grew fast.",
        "The talks ended on July 21, 2017.",
        "The vote closes at 10:30 a.m. on the 3rd of May.",
        "Its F-16 jets and G20 partners met in Room 12.",
        "See page 3 and No. 5 of the report.",
        "He was one of the first to leave.",
        "Comments (2) | 13/7/2016",
    ],
)
def test_figures_skip_dates_times_and_labels(text: str) -> None:
    assert find_figures(text) == []


def test_figures_context_is_the_sentence() -> None:
    text = "Mr. Lee spoke first. The agency counted 4,200 migrants in June. Nobody else spoke."
    [f] = find_figures(text)
    assert f.context == "The agency counted 4,200 migrants in June."


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("0123456789 ,.%$€-:") + ["people", "million", " in ", "three", "\n"]),
                max_size=80).map("".join))
def test_figures_offsets_hold(text: str) -> None:
    for f in find_figures(text):
        assert text[f.start : f.end] == f.surface
        assert f.surface.strip() == f.surface


def test_figures_step_contract() -> None:
    step = Figures()
    again = pickle.loads(pickle.dumps(rebuild(step)))
    assert params(again) == params(step) == {"config": FiguresConfig()}
    empty = again(pa.table({"article_id": pa.array([], pa.string()), "text": pa.array([], pa.string())}))
    assert empty.num_rows == 0 and empty.schema.equals(with_reject(model.FIGURE))
    out = again(pa.table({"article_id": ["a1", "a2"], "text": ["It cost $3 million.", ""]}))
    assert out.schema.equals(with_reject(model.FIGURE))
    assert out.to_pylist()[0]["figure_id"] == model.stable_id("a1", 8, 18)
    assert out.to_pylist()[0]["value"] == 3e6


_FIG_PIECES = st.sampled_from(
    list("0123456789 ,.%$€£¥-:/\nUuSsſKk") + ["US$", "us$", "two", "Three", "TEN", "twenty-five", "ninety", "dozen",
                                            "tenants", " million", "hundred", "per cent", "F-16", "1990s", "_"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIG_PIECES, max_size=60).map("".join))
def test_figures_candidate_starts_give_the_finditer_matches(text: str) -> None:
    # The fast scan tries _FIGURE only where a match can start; it must find exactly what finditer finds.
    from storyline.steps.figures import _FIGURE, _figure_matches

    def spans(ms):
        return [(m.span(), m.groupdict()) for m in ms]

    assert spans(_figure_matches(text)) == spans(_FIGURE.finditer(text))


def test_figures_step_rows_match_dict_rows_with_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    import storyline.steps.figures as figures_mod

    real = figures_mod.find_figures

    def flaky(text: str):
        if "boom" in text:
            raise RuntimeError("boom")
        return real(text)

    monkeypatch.setattr(figures_mod, "find_figures", flaky)
    texts = ["It cost $3 million and 40,000 people came.", "boom 5 people", "", "Two million pupils, 9%."]
    ids = [f"a{i}" for i in range(len(texts))]
    out = Figures()(pa.table({"article_id": ids, "text": texts}))
    rows = []
    for a, t in zip(ids, texts):
        if "boom" in t:
            rows.append({"article_id": a, "_reject": "error: RuntimeError"})
            continue
        rows += [{"figure_id": model.stable_id(a, f.start, f.end), "article_id": a, "start": f.start, "end": f.end,
                  "value": f.value, "unit": f.unit, "surface": f.surface, "context": f.context, "_reject": None}
                 for f in real(t)]
    assert out.equals(pa.Table.from_pylist(rows, schema=with_reject(model.FIGURE)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(".!?\n \t\"”’)“A0a") + [". A", ".\n"]), max_size=60).map("".join))
def test_figures_sentence_end_pattern_matches_plain_form(text: str) -> None:
    import re

    from storyline.steps.figures import _SENT

    plain = re.compile(r"[.!?][\"”’)]?\s+(?=[\"“A-Z0-9])|\n")
    assert [m.span() for m in _SENT.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_number_words_end_at_a_word_boundary_and_compounds_count_their_ones():
    from storyline.steps.figures import find_figures

    assert find_figures("The tenants of Tennessee left; seventeenth fighters stayed.") == []
    got = [(f.value, f.unit) for f in find_figures("twenty-one people and ninety nine cats")]
    assert got == [(21.0, "people"), (99.0, "cats")]


def test_us_dollar_sign_in_any_case_is_usd():
    # _FIGURE ignores case, so "uſ$" (long s) is a "US$" too; its unit comes from the sign, not a lookup
    # of the lowered text (which raised KeyError and rejected the whole article).
    got = [(f.value, f.unit, f.surface) for f in find_figures("It cost uſ$5 million, US$3 and us$4.")]
    assert got == [(5e6, "USD", "uſ$5 million"), (3.0, "USD", "US$3"), (4.0, "USD", "us$4")]


def test_figures_digits_of_any_script_and_plane_start_figures():
    # The start scan takes ``\d`` from re itself, so Arabic-Indic and astral (mathematical) digits count.
    got = [(f.value, f.unit, f.surface) for f in find_figures("Some ٣ people and 𝟏𝟐 troops came.")]
    assert got == [(3.0, "people", "٣ people"), (12.0, "troops", "𝟏𝟐 troops")]


def test_figures_context_of_a_figure_far_into_a_long_sentence():
    # The sentence scan starts near the figure; with no sentence end there it rescans from 600 back.
    long = "Officials said that " + "the count went on " * 15 + "with 40,000 migrants counted."
    text = "Mr. Lee spoke. " + long + " Nobody else spoke."
    [f] = find_figures(text)
    assert f.context == long


_ODD_PIECES = st.sampled_from(
    ["٣", "𝟏", "１", "😀", "𐐀", "ſ", "K", "İ", "ı", "ſix", "sıx", "SEVEN", "two", "ten", "tenth", "$", "US$",
     "uſ$", "€", " ", "-", ",", ".", "\n", "_", "a", "5", "12", "%", " million", " people"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ODD_PIECES, max_size=40).map("".join))
def test_figures_start_scan_misses_no_match_in_any_script(text: str) -> None:
    from storyline.steps.figures import _FIGURE, _figure_matches

    assert [m.span() for m in _figure_matches(text)] == [m.span() for m in _FIGURE.finditer(text)]
