from __future__ import annotations

import pyarrow as pa

from storyline import model
from storyline.steps.cluster import Cluster, proper_nouns, roles
from tests.conftest import make_articles

EVENT_A = ("Flooding in the Danube valley forced Hungarian authorities to evacuate Szentendre on Monday, "
           "as the river rose to a record 8.9 metres in Budapest, officials said.")
EVENT_A2 = ("Budapest braced for a record Danube crest as Hungarian officials evacuated Szentendre, "
            "with water levels nearing 8.9 metres, the disaster agency said on Monday.")
EVENT_B = ("The central bank of Brazil raised its benchmark Selic rate to 13.75 percent on Wednesday, "
           "citing persistent inflation, economists in Sao Paulo said.")


def _edges(rows=()):
    return pa.Table.from_pylist([dict(zip(model.REUSE_EDGE.names, r)) for r in rows], schema=model.REUSE_EDGE)


def test_cluster_same_event_without_shared_text_joins():
    out = Cluster()(make_articles(EVENT_A, EVENT_A2, EVENT_B), _edges())
    story = dict(zip(out["article_id"].to_pylist(), out["story_id"].to_pylist()))
    assert story["a0"] == story["a1"] != story["a2"]


def test_cluster_reuse_edge_is_decisive():
    out = Cluster()(make_articles(EVENT_A, EVENT_B), _edges([("a0", "a1", 60, 0.5, "date")]))
    assert len(set(out["story_id"].to_pylist())) == 1
    assert dict(zip(out["article_id"].to_pylist(), out["role"].to_pylist())) == {"a0": "origin", "a1": "copy"}


def test_cluster_ids_do_not_depend_on_input_order():
    arts = make_articles(EVENT_A, EVENT_A2, EVENT_B)
    a = Cluster()(arts, _edges())
    b = Cluster()(arts.take([2, 0, 1]), _edges())
    assert a.to_pylist() == b.to_pylist()


def test_cluster_empty_in_empty_out():
    assert Cluster()(model.ARTICLE.empty_table(), _edges()).num_rows == 0


def test_cluster_proper_nouns_skip_sentence_starters():
    names = proper_nouns("The Danube rose. Hungarian officials said Viktor Orban visited.")
    assert "danube" in names and "viktor orban" in names and "the" not in names


def test_cluster_roles():
    assert roles(["a", "b", "c"], [("a", "b")]) == {"a": "origin", "b": "copy", "c": "independent"}
