"""Every step honours the contract (scikit-learn's parametrize_with_checks, for pipeline steps)."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from storyline import model
from storyline.engines.local import LocalEngine
from storyline.steps import ingest
from storyline.steps.align import Align, Direction, ReuseClusters
from storyline.steps.base import params, rebuild
from storyline.steps.candidates import Candidates, CountPairs
from storyline.steps.clean import Clean
from storyline.steps.figures import Figures
from storyline.steps.fingerprint import Fingerprint
from storyline.steps.quotes import Quotes
from tests.conftest import make_articles

WIRE = ("The minister said on Tuesday that 3,000 troops would be withdrawn from the border region by June, "
        "a move that officials described as “the first step towards lasting peace in the valley.” "
        "Opposition leaders said the decision came too late for the 12 villages already abandoned.")
TEXTS = [
    WIRE,
    "Local paper intro about the valley and its people, written by our own reporter. " + WIRE,
    "“We will not accept this,” said Maria Lopez, the mayor of Riverton. She added that 40 percent of "
    "families had left.",
    "",
]


def _pages() -> pa.Table:
    pages = [ingest._page(f"p{i}.txt", 0, "text", "Headline number {i}\n\n" + t * 2) for i, t in enumerate(TEXTS[:3])]
    return ingest.to_tables(pages)[0]


def _keys() -> pa.Table:
    return Fingerprint()(make_articles(*TEXTS))


def _pair_view() -> pa.Table:
    edits = [[{"a_start": 0, "b_start": 81, "edits": '[["troops", "soldiers"]]'}], [], []]
    return pa.table({"a_id": ["a0", "a0", "a1"], "a_text": [TEXTS[0], TEXTS[0], TEXTS[1]],
                     "a_published": ["2020-01-01", None, None],
                     "b_id": ["a1", "a2", "a2"], "b_text": [TEXTS[1], TEXTS[2], TEXTS[2]],
                     "b_published": ["2020-01-02", None, None], "shared_words": [40, 0, 0], "passage_edits": edits})


def _alignments() -> pa.Table:
    # Three passages of one text in four articles, plus an unrelated pair: two clusters.
    return pa.table({"a_id": ["a0", "a1", "a0", "a4"], "a_start": [0, 81, 10, 0], "a_end": [200, 281, 190, 50],
                     "b_id": ["a1", "a2", "a3", "a5"], "b_start": [81, 0, 5, 0], "b_end": [281, 200, 185, 50]})


CASES = [
    (Clean(), _pages),
    (Fingerprint(), lambda: make_articles(*TEXTS)),
    (Quotes(), lambda: make_articles(*TEXTS)),
    (Figures(), lambda: make_articles(*TEXTS)),
    (Candidates(), _keys),
    (CountPairs(), lambda: Candidates()(_keys())),
    (Align(), _pair_view),
    (Direction(), _pair_view),
    (ReuseClusters(), _alignments),
]
IDS = [type(s).__name__ for s, _ in CASES]


@pytest.mark.parametrize("step,make", CASES, ids=IDS)
def test_steps_rebuild_from_params_and_pickle(step, make):
    again = pickle.loads(pickle.dumps(rebuild(step)))
    assert params(again) == params(step)
    assert again(make()).equals(step(make()))


@pytest.mark.parametrize("step,make", CASES, ids=IDS)
def test_steps_empty_in_empty_out(step, make):
    empty = make().schema.empty_table()
    out = step(empty)
    assert out.num_rows == 0 and out.schema.equals(step.output_schema)


@pytest.mark.parametrize("step,make", CASES, ids=IDS)
def test_steps_output_schema_and_reads(step, make):
    table = make()
    assert all(c in table.column_names for c in step.reads)
    out = step(table)
    assert out.schema.equals(step.output_schema) and out.num_rows > 0


@pytest.mark.parametrize("step,make", CASES, ids=IDS)
def test_steps_deterministic_and_batch_size_independent(step, make):
    table = make()
    whole = step(table)
    assert step(table).equals(whole)
    small = LocalEngine(batch_rows=1)
    run = {"group": small.group, "gather": small.gather}.get(step.kind, small.map)
    split = run(step, table)
    key = [(c, "ascending") for c in whole.column_names if whole.schema.field(c).type in (pa.string(), pa.int64())]
    assert split.sort_by(key).equals(whole.sort_by(key))


def test_steps_schemas_round_trip_through_arrow():
    arts = make_articles(*TEXTS)
    assert pa.Table.from_pylist(arts.to_pylist(), schema=model.ARTICLE).equals(arts)
