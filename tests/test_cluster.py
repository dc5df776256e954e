from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from storyline import corrections, model
from storyline.config import ClusterConfig
from storyline.steps import cluster
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


EVENT_C = ("Wildfires near Athens forced Greek firefighters to evacuate Mati and Rafina on Tuesday, "
           "with 26 villages threatened, the civil protection ministry said.")
EVENT_C2 = ("Greek officials ordered Rafina and Mati evacuated as wildfires spread toward Athens, "
            "with 26 villages at risk, the civil protection ministry said on Tuesday.")
DATES = ["2024-05-06", "2024-05-06", "2024-05-08", "2024-05-07", "2024-05-07"]


def _stories(out: pa.Table) -> dict[str, str]:
    return dict(zip(out["article_id"].to_pylist(), out["story_id"].to_pylist()))


def test_cluster_incremental_add_keeps_old_assignments():
    arts = make_articles(EVENT_A, EVENT_B, EVENT_A2, EVENT_C, EVENT_C2, dates=DATES)
    first = Cluster()(arts.take([0, 1, 3]), _edges())
    both = Cluster()(arts, _edges(), previous=first)
    old, new = _stories(first), _stories(both)
    assert all(new[a] == s for a, s in old.items())
    assert new["a2"] == new["a0"] and new["a4"] == new["a3"] and new["a1"] not in (new["a0"], new["a3"])
    assert Cluster()(arts, _edges(), previous=both).to_pylist() == both.to_pylist()


def test_cluster_incremental_matches_one_batch_on_hand_built_set():
    arts = make_articles(EVENT_A, EVENT_B, EVENT_A2, EVENT_C, EVENT_C2, dates=DATES)
    inc = Cluster()(arts, _edges(), previous=Cluster()(arts.take([4, 2]), _edges()))
    one = Cluster()(arts, _edges())
    groups = lambda t: sorted(sorted(a for a, s in _stories(t).items() if s == sid) for sid in set(_stories(t).values()))
    assert groups(inc) == groups(one)


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]])
def test_cluster_order_independent(order):
    arts = make_articles(EVENT_A, EVENT_B, EVENT_A2, EVENT_C, EVENT_C2, dates=DATES)
    assert Cluster()(arts.take(order), _edges()).to_pylist() == Cluster()(arts, _edges()).to_pylist()


def test_cluster_story_id_is_first_article():
    arts = make_articles(EVENT_A, EVENT_A2, dates=["2024-05-07", "2024-05-06"])
    assert set(Cluster()(arts, _edges())["story_id"].to_pylist()) == {model.stable_id("story", "a1")}


def test_cluster_reuse_joins_new_article_to_old_story():
    arts = make_articles(EVENT_A, EVENT_B, dates=["2024-05-06", "2024-05-07"])
    first = Cluster()(arts.take([0]), _edges())
    both = Cluster()(arts, _edges([("a0", "a1", 60, 0.5, "date")]), previous=first)
    assert len(set(both["story_id"].to_pylist())) == 1


def test_cluster_corrections_persist_across_reruns():
    arts = make_articles(EVENT_A, EVENT_A2, EVENT_B, dates=["2024-05-06", "2024-05-06", "2024-05-06"])
    out = Cluster()(arts, _edges())
    s = _stories(out)
    assert s["a0"] == s["a1"] != s["a2"]
    fixes = corrections.split(out, ["a1"])
    after_split = Cluster()(arts, _edges(), corrections=fixes)  # what the CLI shows before the next fix
    fixes = pa.concat_tables([fixes, corrections.merge(after_split, [s["a0"], s["a2"]], fixes)])
    corrected = Cluster()(arts, _edges(), corrections=fixes)
    c = _stories(corrected)
    assert c["a0"] == c["a2"] != c["a1"]
    # Rerun from scratch, and incrementally with a new article close to a1: the corrections hold.
    assert Cluster()(arts, _edges(), corrections=fixes).to_pylist() == corrected.to_pylist()
    more = make_articles(EVENT_A, EVENT_A2, EVENT_B, EVENT_A, dates=["2024-05-06"] * 3 + ["2024-05-07"])
    again = _stories(Cluster()(more, _edges(), previous=corrected, corrections=fixes))
    assert again["a1"] != again["a0"] == again["a2"] and all(again[a] == c[a] for a in c)


def test_cluster_feature_weights_match_names():
    assert len(cluster.WEIGHTS) == len(cluster.FEATURES) and 0 < cluster.MERGE_THRESHOLD < 1


def test_cluster_figures_skip_years_and_single_digits():
    assert cluster.figures("In 2019, 3,000 troops and 8.9 metres, 5 days") == {"3000", "8.9"}


def test_cluster_oversized_story_is_cut_and_flagged_for_review():
    from storyline.config import ClusterConfig

    texts = [f"Flood update {i}: the Danube crest reached Budapest as Hungarian officials evacuated Szentendre "
             f"and the disaster agency said water levels neared record heights on Monday." for i in range(5)]
    arts = make_articles(*texts, dates=[f"2024-09-0{i + 1}" for i in range(5)])
    out = Cluster(ClusterConfig(max_story_size=2))(arts, _edges())
    sizes = sorted(out.group_by("story_id").aggregate([("article_id", "count")])["article_id_count"].to_pylist())
    assert sizes == [1, 2, 2] and all(out["review"].to_pylist())
    again = Cluster(ClusterConfig(max_story_size=2))(arts, _edges(), previous=out)
    assert again.equals(out)


def test_cluster_undecided_reuse_is_reported_as_reuse_role():
    out = Cluster()(make_articles(EVENT_A, EVENT_B), _edges([("a0", "a1", 60, 0.5, "undecided")]))
    assert set(out["role"].to_pylist()) == {"reuse"}


def _terms(arts: pa.Table, keep: set[str] | None = None) -> pa.Table:
    """The terms of ``arts`` (only of ``keep`` if given: what the pipeline reads with stored counts)."""
    if keep is not None:
        arts = arts.filter(pa.array([a in keep for a in arts["article_id"].to_pylist()]))
    return cluster.Terms()(arts)


def test_cluster_df_round_trips_and_adds_up():
    arts = make_articles(EVENT_A, EVENT_B, EVENT_A2, EVENT_C, dates=DATES[:4])
    whole = cluster.CountDF()(_terms(arts))
    assert cluster.df_table(cluster.read_df(whole)).equals(whole)
    assert cluster.read_df(whole)[1] == 4
    parts = cluster.CountDF()(_terms(arts.take([2, 3])), cluster.CountDF()(_terms(arts.take([0, 1]))))
    assert parts.sort_by([("rep", "ascending"), ("term", "ascending")]).equals(
        whole.sort_by([("rep", "ascending"), ("term", "ascending")]))


def test_cluster_incremental_add_with_stored_df_vectorises_only_new_and_active():
    far = "2024-09-01"  # an old story far outside the window of the new articles
    arts = make_articles(EVENT_A, EVENT_B, EVENT_A2, EVENT_C, EVENT_C2, EVENT_B, dates=DATES + [far])
    old = arts.take([0, 1, 3, 5])
    first = Cluster()(old, _edges())
    df = cluster.CountDF()(_terms(arts.take([2, 4])), cluster.CountDF()(_terms(old)))
    need = Cluster().needs_text(arts, first)
    assert {"a2", "a4"} <= need and "a5" not in need
    dates, thin = arts.select(["article_id", "published"]), _terms(arts, need)
    inc = Cluster()(dates, _edges(), previous=first, df=df, terms=thin)
    # Same result as vectorising every article, old assignments kept, and deterministic.
    assert inc.equals(Cluster()(arts, _edges(), previous=first))
    assert all(_stories(inc)[a] == s for a, s in _stories(first).items())
    assert Cluster()(dates, _edges(), previous=first, df=df, terms=thin).equals(inc)
    # The story out of the window had no text and still keeps its article.
    assert _stories(inc)["a5"] == _stories(first)["a5"]


def test_cluster_rare_word_feature_is_mean_member_idf_squared_cosine():
    docs = cluster.featurize(make_articles(EVENT_A, EVENT_A2, EVENT_B).to_pylist())
    index = cluster.StoryIndex()
    index.count_df(docs)
    slot = index.open("s", None)
    for d in docs[:2]:
        index.weigh_and_add(d, slot)
    vecs = index.weigh(docs[2])
    index.candidates(docs[2], vecs)
    rep = index.reps[0]
    q = cluster._unit(vecs[0][1] * rep.idf(vecs[0][0]))
    expect = []
    for d in docs[:2]:
        idx, w = index.weigh(d)[0]
        m = dict(zip(idx.tolist(), cluster._unit(w * rep.idf(idx)).tolist()))
        expect.append(sum(v * m.get(t, 0.0) for t, v in zip(vecs[0][0].tolist(), q.tolist())))
    assert index.set_features(docs[2], slot)[2] == pytest.approx(sum(expect) / 2, rel=1e-4)
    assert cluster.FEATURES[-1] == "rare_body" and len(cluster.WEIGHTS) == len(cluster.FEATURES)


def test_cluster_small_store_idf_prior_keeps_shared_names_as_evidence():
    rep = cluster._Postings(16)
    rep.df[:2], rep.n_docs = [3, 1], 4  # term 0 in 3 of 4 articles
    assert rep.idf(np.array([0]))[0] > 1.5  # not a common word in a 4-article store
    title = cluster._Postings(16, floor=0.0, prior=0.0)
    title.df[0], title.n_docs = 4, 4
    assert title.idf(np.array([0]))[0] == 0.0  # a title word of every article is still no evidence


def test_pipeline_rerun_with_new_articles_keeps_stored_df_consistent(tmp_path):
    import json

    from storyline import pipeline
    from storyline.store import Store

    first = tmp_path / "a.jsonl"
    rows = [{"id": f"x{i}", "title": f"T{i}", "date": d, "text": t}
            for i, (t, d) in enumerate([(EVENT_A, "2024-05-06"), (EVENT_B, "2024-05-06"), (EVENT_C, "2024-05-07")])]
    first.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    pipeline.run([str(first)], out)
    more = tmp_path / "b.jsonl"
    more.write_text(json.dumps({"id": "x3", "title": "T3", "date": "2024-05-07", "text": EVENT_A2}), encoding="utf-8")
    pipeline.run([str(first), str(more)], out)
    store = Store(out)
    stored = store.read("cluster_df")
    assert store.manifest("cluster_df")["inputs"] == store.fingerprint("stories")
    recount = cluster.CountDF()(store.read("terms"))
    key = [("rep", "ascending"), ("term", "ascending")]
    assert stored.sort_by(key).equals(recount.sort_by(key))


def test_cluster_undated_new_article_replays_only_the_last_window():
    day = cluster._day
    items = [("old", day("2024-01-02")), ("recent", day("2024-05-01")), ("undated-old", None), ("new", None)]
    previous = {"old": "s-old", "recent": "s-recent", "undated-old": "s-undated"}
    # The undated article comes last in the stream: it can meet the stories of the newest week and
    # undated stories (never evicted), not a story that ended months before.
    assert cluster.replayed_ids(items, previous, 7) == {"recent", "undated-old"}
    # A dated new article replays only the stories around its own date.
    items[-1] = ("new", day("2024-01-05"))
    assert cluster.replayed_ids(items, previous, 7) == {"old", "undated-old"}


def test_cluster_eviction_frees_stories_out_of_the_window():
    arts = make_articles(EVENT_A, EVENT_B, EVENT_C, dates=["2024-01-01", "2024-03-01", "2024-06-01"])
    index = cluster.StoryIndex(window_days=7)
    docs = cluster.featurize(arts.to_pylist())
    index.count_df(docs)
    for doc in docs:
        vecs = index.weigh(doc)
        index.candidates(doc, vecs)
        index.add(doc, vecs, index.open(doc.article_id, doc.day))
    index.rebuild()
    old, newest = index.stories[0], index.stories[-1]
    assert old.figures == set() and all(rep.vector(0) is None for rep in index.reps)
    assert newest.figures and all(index.reps[0].vector(d) is None for d in (0, 1))
    assert any(rep.vector(2) is not None for rep in index.reps)


def test_cluster_story_dots_kernel_equals_numpy_reference():
    rng = np.random.default_rng(0)
    for trial in range(20):
        rep = cluster._Postings(512)
        n_docs = int(rng.integers(1, 60))
        doc_story = np.sort(rng.integers(0, max(1, n_docs // 3), n_docs)).astype(np.int64)
        for d in range(n_docs):
            idx = np.unique(rng.integers(0, 512, int(rng.integers(0, 20)))).astype(np.int64)
            rep.add(d, int(doc_story[d]), idx, rng.random(idx.size).astype(np.float32), 0.0)
            if d == n_docs // 2:
                rep.rebuild(range(d + 1))  # half indexed, half in the buffer
        q = np.unique(rng.integers(0, 512, 30)).astype(np.int64)
        w = rng.random(q.size).astype(np.float32)
        for per_doc in (True, False):
            got = rep.story_dots(q, w, doc_story, per_doc)[:3]
            want = rep.story_dots_reference(q, w, doc_story, per_doc)
            for g, x in zip(got, want):
                assert g.dtype == x.dtype and np.array_equal(g, x), (trial, per_doc)


def test_cluster_member_dots_match_the_postings_and_skipping_common_terms_keeps_the_stories():
    rng = np.random.default_rng(1)
    rep = cluster._Postings(256)
    doc_story = np.repeat(np.arange(20), 3).astype(np.int64)
    for d in range(doc_story.size):
        idx = np.unique(np.concatenate([[0, 1], rng.integers(2, 256, 12)])).astype(np.int64)  # 0, 1: in every doc
        rep.add(d, int(doc_story[d]), idx, rng.random(idx.size).astype(np.float32), 0.0)
        if d == 40:
            rep.rebuild(range(d + 1))
    q = np.unique(np.concatenate([[0, 1], rng.integers(2, 256, 20)])).astype(np.int64)
    w = rng.random(q.size).astype(np.float32)
    for per_doc in (True, False):
        slots, sums, best, complete = rep.story_dots(q, w, doc_story, per_doc)
        assert complete
        m_slots, m_sums, m_best = rep.member_dots(q, w, slots, doc_story, per_doc)
        assert np.array_equal(m_slots, slots)
        assert np.allclose(m_sums, sums, rtol=1e-6) and np.allclose(m_best, best, rtol=1e-6)
        # with the two common terms skipped the sums are partial, and flagged so
        part = rep.story_dots(q, w, doc_story, per_doc, max_postings=30)
        assert not part[3] and set(part[0]) <= set(slots)


def test_cluster_plan_cuts_slices_at_day_changes_with_their_warm_up_inside_the_slice_before():
    # five articles a day for 20 days, then three undated
    items = [(f"d{d}-{k}", 700_000 + d) for d in range(20) for k in range(5)] + [(f"u{k}", None) for k in range(3)]
    placed = {"d0-0": "old"}
    plan = cluster.plan_segments(items, placed, size=30, window_days=2)
    assert [a for seg in plan for a in seg.core] == [a for a, _ in items if a not in placed]  # each once, in order
    day = dict(items)
    for before, seg in zip(plan, plan[1:]):
        assert len(before.core) >= 30 and len(seg.core) >= 15 and day[seg.core[0]] != day[before.core[-1]]  # whole days
        # the warm-up is the window before the cut, all of it inside the slice before
        assert seg.warm == [a for a in before.core if day[seg.core[0]] - 2 <= day[a] < day[seg.core[0]]]
        assert len(seg.warm) * cluster.WARM_RATIO <= len(before.core)
    assert plan[-1].core[-3:] == ["u0", "u1", "u2"] and len(plan) == 3
    assert plan[0].replay == ["d0-0"] and not plan[1].replay  # the old story is near the first slice only
    # a dense stream (the window holds more than a slice) is not cut
    assert len(cluster.plan_segments(items, {}, size=30, window_days=10)) == 1


EVENT_A3 = ("Hungarian authorities evacuated more Szentendre residents on Tuesday as the Danube crest neared "
            "8.9 metres in Budapest, officials said.")
FILLER = [
    "The central bank of Brazil raised its benchmark Selic rate to 13.75 percent, citing inflation in Sao Paulo.",
    "Wildfires near Athens forced Greek firefighters to evacuate Mati and Rafina, with 26 villages threatened.",
    "Japan's parliament approved a record 114 trillion yen budget for defence and social security spending.",
    "Kenyan athletes swept the Berlin marathon podium as Eliud Kipchoge finished in 2:01:09 on a cool morning.",
    "Chile's copper output fell 7 percent in March after strikes at the Escondida mine, Cochilco reported.",
    "Norway's sovereign wealth fund posted a 1.3 trillion crown gain on technology stocks, Oslo officials said.",
    "Canadian wildfire smoke drifted over New York, pushing air quality readings to 484 in Manhattan.",
]


def test_cluster_slices_stitch_into_the_stories_of_one_stream():
    """A story that began before a slice's warm-up keeps its id across the cut (the warm-up
    members vote it in), and the slices together give the stories one stream gives."""
    texts = [FILLER[0], FILLER[1], EVENT_A, EVENT_A2, EVENT_A3, *FILLER[2:]]
    dates = [f"2024-05-{d:02d}" for d in range(1, len(texts) + 1)]
    arts = make_articles(*texts, dates=dates)
    sliced = ClusterConfig(window_days=1, segment_articles=1)
    plan = Cluster(sliced).plan(arts, None)
    assert [len(seg.core) for seg in plan] == [4, 4, 2] and plan[1].warm == ["a3"]  # a2, a3 | a4
    one = Cluster(ClusterConfig(window_days=1))(arts, _edges())
    story = dict(zip(one["article_id"].to_pylist(), one["story_id"].to_pylist()))
    assert story["a2"] == story["a3"] == story["a4"]  # the Danube story spans the cut
    got = Cluster(sliced)(arts, _edges())
    # the same stories, ids and roles; a score may differ (the slice saw the story without a2)
    assert got.drop(["score"]).equals(one.drop(["score"]))
    # a decisive reuse link from the last slice to the first is followed as one stream follows it
    edges = _edges([("a0", "a9", 60, 0.5, "date")])
    one = Cluster(ClusterConfig(window_days=1))(arts, edges)
    story = dict(zip(one["article_id"].to_pylist(), one["story_id"].to_pylist()))
    assert story["a9"] == story["a0"] == model.stable_id("story", "a0")
    assert Cluster(sliced)(arts, edges).drop(["score"]).equals(one.drop(["score"]))


def test_cluster_rebuilds_that_evict_keep_the_postings_of_the_held_documents():
    rng = np.random.default_rng(2)
    rep = cluster._Postings(256)
    doc_story = np.repeat(np.arange(40), 4).astype(np.int64)
    held: list[int] = []
    for d in range(doc_story.size):
        idx = np.unique(rng.integers(0, 256, int(rng.integers(0, 15)))).astype(np.int64)
        rep.add(d, int(doc_story[d]), idx, rng.random(idx.size).astype(np.float32), 0.0)
        held.append(d)
        if d % 23 == 22:  # evict a random part, fold the rest (and the buffer) into the index
            held = [h for h in held if rng.random() < 0.7]
            rep.rebuild(held)
        q = np.unique(rng.integers(0, 256, 25)).astype(np.int64)
        w = rng.random(q.size).astype(np.float32)
        for per_doc in (True, False):
            got = rep.story_dots(q, w, doc_story, per_doc)[:3]
            want = rep.story_dots_reference(q, w, doc_story, per_doc)
            assert all(g.dtype == x.dtype and np.array_equal(g, x) for g, x in zip(got, want)), (d, per_doc)


def test_cluster_member_sums_from_the_postings_are_the_member_scans_bit_for_bit():
    rng = np.random.default_rng(3)
    rep = cluster._Postings(128)
    doc_story = np.repeat(np.arange(60), 5).astype(np.int64)
    held: list[int] = []
    scale = np.zeros(doc_story.size)
    checked = 0
    for d in range(doc_story.size):
        idx = np.unique(rng.integers(0, 128, int(rng.integers(0, 60)))).astype(np.int64)
        w = (rng.random(idx.size) * 10.0 ** rng.uniform(-9, 0, idx.size)).astype(np.float32)  # rounding shows
        rep.add(d, int(doc_story[d]), idx, w, 0.0)
        scale[d] = rng.random()
        held.append(d)
        if d % 37 == 36:  # evict a random part, fold the rest (and the buffer) into the index
            held = [h for h in held if rng.random() < 0.8]
            rep.rebuild(held)
        if d % 3:
            continue
        q = np.unique(rng.integers(0, 128, int(rng.integers(1, 80)))).astype(np.int64)
        qw = (rng.random(q.size) * 10.0 ** rng.uniform(-9, 0, q.size)).astype(np.float32)
        q2 = (rng.random(q.size) * 20).astype(np.float32)
        slots = np.unique(rng.integers(0, doc_story[d] + 2, 8)).astype(np.int64)  # one past the last story too
        for dots, means in ((1, 2), (0, 2), (1, 0), (0, 1)):
            got, want = [np.zeros(slots.size) for _ in range(2)], [np.zeros(slots.size) for _ in range(2)]
            best = [np.zeros(slots.size, np.float32) for _ in range(2)]
            scratch2 = np.zeros(128, np.float32)
            cluster._load_query(rep.qbits, rep.scratch, q, qw, True)
            cluster._hold(scratch2, q, q2, True)
            cluster._scan(rep.story_head, rep.doc_next, rep.doc_off, rep.doc_len, rep.fw_terms, rep.fw_w, rep.qbits,
                          rep.scratch, slots, dots, want[0], best[0], means, scratch2, scale, q.size, want[1])
            cluster._load_query(rep.qbits, rep.scratch, q, qw, False)
            cluster._posted_scan(rep.indptr, rep.post_doc, rep.post_w, rep.head, rep.nxt, rep.fw_doc, rep.fw_w, q, qw,
                                 q2, rep.story_head, rep.doc_next, rep.doc_off, rep.doc_len, slots, rep.dbits, rep.dacc,
                                 rep.dacc2, dots, got[0], best[1], means, scale, q.size, got[1])
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (d, dots, means)
            assert np.array_equal(best[0], best[1]), (d, dots, means)
            assert not rep.dbits.any() and not rep.dacc.any() and not rep.dacc2.any()  # zero between calls
            checked += bool(want[0].any() or want[1].any())
    assert checked > 100 and rep.ascending[0]
    rep.add(doc_story.size, 0, np.array([5, 3], np.int64), np.ones(2, np.float32), 0.0)
    assert not rep.ascending[0]  # the scoring kernel then scans the members


class _LazyRows:
    """A stand-in index for cluster._best: set features of row r are ``lazy[r]`` (slots are rows)."""

    def __init__(self, lazy: np.ndarray, figures_always: bool) -> None:
        self.lazy, self.figures_always, self.asked = lazy, figures_always, 0

    def lazy_features(self, doc, slots, rows, figures=True):
        out = self.lazy[rows].copy()
        if not (figures or self.figures_always):
            out[:, 0] = 0.0
        return out

    def shared_figures(self, doc, slots):
        self.asked += len(slots)
        return self.lazy[slots, 0]


def test_cluster_best_works_out_shared_figures_only_for_rows_that_can_still_win():
    rng = np.random.default_rng(4)
    doc = cluster.Doc("a", 0, (), frozenset({"1200"}))
    rows = asked = 0
    for trial in range(400):
        n = int(rng.integers(1, 30))
        x = np.zeros((n, 9))
        x[:, :5] = rng.random((n, 5)) * rng.choice([0.2, 1.0])
        x[:, 5] = rng.integers(0, 8, n) / 7.0
        lazy = np.column_stack([rng.integers(0, 5, n) / 3.0, rng.random(n), rng.random(n)])
        lazy[:, 0] = np.minimum(1.0, lazy[:, 0])
        twins = rng.integers(0, n, max(1, n // 2))  # same scores but for the shared figures: they decide
        x[twins[1:], :6], lazy[twins[1:], 1:] = x[twins[0], :6], lazy[twins[0], 1:]
        slots = np.arange(n)
        want = cluster._best(doc, slots, x.copy(), _LazyRows(lazy, True), cluster.WEIGHTS, cluster.BIAS, 0.2)
        index = _LazyRows(lazy, False)
        got = cluster._best(doc, slots, x.copy(), index, cluster.WEIGHTS, cluster.BIAS, 0.2)
        assert got == want, trial
        rows, asked = rows + n, asked + index.asked
    assert asked < rows / 3  # most rows never needed their figures


def test_cluster_rebuild_holds_no_second_forward_store():
    import tracemalloc
    rng = np.random.default_rng(3)
    cluster._Postings(16).rebuild([])  # the kernels loaded outside the trace
    tracemalloc.start()  # numpy reports its arrays: the index is traced from its first one
    try:
        rep = cluster._Postings(4096)
        n = 0
        for d in range(3000):
            idx = np.unique(rng.integers(0, 4096, 120)).astype(np.int64)
            rep.add(d, d // 3, idx, rng.random(idx.size).astype(np.float32), 0.0)
            n += idx.size
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        rep.rebuild(range(3000))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # new postings (8 bytes an entry) and the store's room for the next documents; a second
    # store with its postings would be 24 bytes an entry and more
    assert peak < 16 * n, (peak, n)
    q = np.unique(rng.integers(0, 4096, 50)).astype(np.int64)
    w = rng.random(q.size).astype(np.float32)
    doc_story = np.arange(3000) // 3
    got, want = rep.story_dots(q, w, doc_story, True)[:3], rep.story_dots_reference(q, w, doc_story, True)
    assert all(np.array_equal(g, x) for g, x in zip(got, want))


@pytest.mark.parametrize("skim", [False, True])
def test_cluster_fused_candidates_give_the_features_of_the_separate_kernels(monkeypatch, skim):
    texts = [EVENT_A, EVENT_A2, EVENT_B, EVENT_A + " " + EVENT_B, EVENT_A2 + " Szentendre 8.9", EVENT_B + " 13.75"]
    docs = cluster.featurize(make_articles(*texts).to_pylist())
    index = cluster.StoryIndex()
    index.count_df(docs)
    for k, d in enumerate(docs[:-1]):
        index.weigh_and_add(d, index.open(f"s{k % 3}", d.day) if k < 3 else k % 3)
    if skim:  # common terms over the budget: the member scans give the sums, the candidates are cut
        monkeypatch.setattr(cluster, "MAX_POSTINGS", 6)
        monkeypatch.setattr(cluster, "MAX_CANDIDATES", 1)
    doc = docs[-1]
    vecs = index.weigh(doc)
    slots, x = index.candidates(doc, vecs, set_features=True)
    assert slots.size and np.array_equal(index.candidates(doc, vecs)[1], x)
    slots, x = index.candidates(doc, vecs, set_features=True)
    rows = np.arange(slots.size)
    assert np.array_equal(index.lazy_features(doc, slots, rows), index.set_features_many(doc, slots))
    monkeypatch.undo()
    full_slots, full_x = index.candidates(doc, vecs)
    at = np.searchsorted(full_slots, slots)
    assert np.array_equal(full_slots[at], slots)
    assert np.allclose(full_x[at], x, rtol=1e-6, atol=1e-9)  # exact dots, summed in another order


def _stitch_one_dict(decisions: pa.Table, old_stories: set[str]) -> list[dict]:
    """stitch as first written: one dict of every article's final story, for the whole run."""
    decisions = decisions.take(pa.compute.sort_indices(decisions, [("segment", "ascending")]))
    cols = decisions.select(["article_id", "story_id", "score", "reason", "warm"]).to_pydict()
    segment = decisions["segment"].to_numpy()
    bounds = [0, *(np.flatnonzero(np.diff(segment)) + 1).tolist(), len(segment)]
    final, out = {}, []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows = list(zip(*(cols[c][lo:hi] for c in ("article_id", "story_id", "score", "reason", "warm"))))
        votes: dict[str, dict[str, int]] = {}
        for a, s, _, _, warm in rows:
            if warm and a in final and s not in old_stories:
                votes.setdefault(s, {}).setdefault(final[a], 0)
                votes[s][final[a]] += 1
        remap = {s: min(t.items(), key=lambda kv: (-kv[1], kv[0]))[0] for s, t in votes.items()}
        remap.update({s: final[s[len(cluster.EXTERNAL):]] for _, s, *_ in rows if s.startswith(cluster.EXTERNAL)})
        for a, s, score, reason, warm in rows:
            if not warm:
                final[a] = s = remap.get(s, s)
                out.append({"story_id": s, "article_id": a, "score": score, "reason": reason})
    return out


@pytest.mark.parametrize("seed", range(4))
def test_stitch_in_columns_equals_stitch_in_rows(seed):
    """The Arrow path of Stitch gives the rows the Python-row path gives: slices joined by their
    warm-up votes and reuse placeholders, old stories kept, oversized stories cut, roles from edges."""
    rng = np.random.default_rng(seed)
    n = 60
    ids = [f"a{i:02d}" for i in range(n)]
    days = ["2024-05-01", "2024-05-02", "2024-05-02T08:00", "2024-05-03", None, "garbage"]
    arts = pa.table({"article_id": ids, "published": [days[k] for k in rng.integers(0, len(days), n)]})
    old = ids[:12]
    previous = pa.table({"story_id": [f"old{k % 3}" for k in range(12)], "article_id": old,
                         "role": ["independent"] * 12, "score": rng.random(12).tolist(),
                         "review": [k == 4 for k in range(12)]}, schema=model.STORY_MEMBER)
    rows, done = [], []
    for seg, core in enumerate((ids[12:30], ids[30:45], ids[45:])):
        warm = done[-6:]
        for a in warm + core:
            pick = rng.random()
            story = (f"old{rng.integers(0, 3)}" if pick < 0.2 else f"{cluster.EXTERNAL}{done[0]}" if pick < 0.3 and done
                     else f"s{seg}-{rng.integers(0, 4)}")
            rows.append({"segment": seg, "article_id": a, "story_id": story, "score": float(rng.random()),
                         "reason": "merge", "warm": a in warm})
        done += core
    decisions = pa.Table.from_pylist(rows, schema=model.CLUSTER_DECISION)
    assert list(cluster.stitch(decisions, {"old0", "old1", "old2"})) == _stitch_one_dict(decisions, {"old0", "old1", "old2"})
    step = cluster.Stitch(ClusterConfig(max_story_size=4))
    plain = step._rows(arts, decisions, None, previous, None)  # edges within stories (and a few across)
    pairs = [(a, b) for k, (a, b) in enumerate(zip(plain["article_id"].to_pylist()[:-1], plain["article_id"].to_pylist()[1:]))
             if k % 3 != 2]
    edges = _edges([(a, b, int(rng.integers(10, 200)), 0.5, ("date", "undecided")[k % 3 == 1])
                    for k, (a, b) in enumerate(pairs)])
    want = step._rows(arts, decisions, edges, previous, None)
    assert step(arts, decisions, edges, previous).equals(want)
    assert step._columns(arts, decisions, edges, previous).equals(want)
    assert pa.compute.any(want["review"]).as_py() and set(want["role"].to_pylist()) > {"independent"}
    fresh = decisions.filter(pa.compute.invert(pa.compute.starts_with(decisions["story_id"], "old")))
    none = step._rows(arts, fresh, None, model.STORY_MEMBER.empty_table(), None)
    assert step(arts, fresh).equals(none) and step._columns(arts, fresh, None, model.STORY_MEMBER.empty_table()).equals(none)


def test_stream_columns_sort_as_stream_order():
    published = ["2024-05-02", None, "2024-05-01T10:00", "bad", "2024-05-01", "2024-05-01", "", "2024-05-02"]
    arts = pa.table({"article_id": ["h", "g", "f", "e", "d", "c", "b", "a"], "published": published})
    ids, days = cluster.stream_columns(arts)
    rows = sorted(arts.to_pylist(), key=cluster.stream_order)
    assert ids.to_pylist() == [r["article_id"] for r in rows]
    assert days == [cluster._day(r["published"]) for r in rows]
