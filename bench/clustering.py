"""Same-story clustering on BASIL (same events covered by NYT, Fox News, HuffPost), with distractors.

Prints, in one run, BCubed P/R/F1 and pairwise F1 of storyline's streaming clusterer and a TF-IDF +
average-linkage agglomerative baseline on:

* ``basil``: basil-dev with its real dates (45 events spread over 2010-2019);
* ``basil-compressed``: the same events squeezed into 30 days (intra-event offsets kept), so that
  many same-topic US-politics events are active at once and dates cannot separate them;
* ``basil+polnear``: basil-dev plus every polnear-train article as a distractor, each moved to the
  date of the basil event nearest to it by TF-IDF topic (plus -3..+3 days), so distractors are
  same-topic *and* same-week. Only basil items are scored; ``distr%`` is the share of distractors
  that land in a story holding a basil article.

Then: the merge model's cross-validation by event (5 folds, never train numbers), order
dependence (ties re-ordered, and two-batch incremental runs), and assignment speed once warm.

Usage: python bench/clustering.py [--data PATH] [--polnear PATH] [--fit] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from storyline import model
from storyline.steps import cluster as C

SHARED = Path(__file__).resolve().parents[1].parent / "shared/data"
DEFAULT = SHARED / "basil-dev.jsonl"
POLNEAR = SHARED / "polnear-train.jsonl"


def bcubed(pred: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """BCubed precision, recall, F1 over the items of ``gold`` (other predicted items are ignored)."""
    items = list(gold)
    by_pred: dict[str, set[str]] = {}
    by_gold: dict[str, set[str]] = {}
    for i in items:
        by_pred.setdefault(pred[i], set()).add(i)
        by_gold.setdefault(gold[i], set()).add(i)
    p = np.mean([len(by_pred[pred[i]] & by_gold[gold[i]]) / len(by_pred[pred[i]]) for i in items])
    r = np.mean([len(by_pred[pred[i]] & by_gold[gold[i]]) / len(by_gold[gold[i]]) for i in items])
    return p, r, 2 * p * r / (p + r)


def pairwise_f1(pred: dict[str, str], gold: dict[str, str]) -> float:
    """F1 of same-cluster pairs among the items of ``gold``."""
    items = sorted(gold)
    pp = {(a, b) for a, b in combinations(items, 2) if pred[a] == pred[b]}
    gp = {(a, b) for a, b in combinations(items, 2) if gold[a] == gold[b]}
    return 2 * len(pp & gp) / max(1, len(pp) + len(gp))


def distractor_rate(pred: dict[str, str], gold: dict[str, str]) -> float:
    """Share of non-gold items whose predicted story holds a gold item."""
    gold_stories = {pred[i] for i in gold}
    others = [i for i in pred if i not in gold]
    return sum(pred[i] in gold_stories for i in others) / max(1, len(others))


def baseline(rows: list[dict], threshold: float = 0.2) -> dict[str, str]:
    """TF-IDF cosine + average-linkage agglomerative clustering (batch, no dates)."""
    x = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(
        [f"{r['title']}\n{r['text']}" for r in rows]
    )
    d = 1.0 - (x @ x.T).toarray()
    labels = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1 - threshold
    ).fit_predict(d)
    return {r["article_id"]: str(lab) for r, lab in zip(rows, labels)}


def load(path: Path) -> tuple[list[dict], dict[str, str]]:
    """BASIL rows as article dicts, and gold cluster per article id."""
    rows, gold = [], {}
    for line in path.open(encoding="utf-8"):
        r = json.loads(line)
        rows.append({"article_id": r["id"], "title": r["title"], "text": r["text"], "published": r["date"]})
        gold[r["id"]] = r["cluster"]
    return rows, gold


def load_polnear(path: Path) -> list[dict]:
    """polnear-train rows as article dicts (no gold story)."""
    out = []
    for line in path.open(encoding="utf-8"):
        r = json.loads(line)
        out.append({"article_id": "pn:" + r["filename"], "title": r["title"], "text": r["text"],
                    "published": r["publication_date"]})
    return out


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day[:10]) + timedelta(days=days)).isoformat()


def compress(rows: list[dict], gold: dict[str, str], span: int = 30, seed: int = 0) -> list[dict]:
    """Move every event to a random start within ``span`` days of 2020-01-01, keeping its own offsets."""
    rng = random.Random(seed)
    first: dict[str, str] = {}
    for r in rows:
        e = gold[r["article_id"]]
        first[e] = min(first.get(e, r["published"]), r["published"])
    start = {e: rng.randrange(span) for e in sorted(first)}
    out = []
    for r in rows:
        e = gold[r["article_id"]]
        off = (date.fromisoformat(r["published"]) - date.fromisoformat(first[e])).days
        out.append({**r, "published": _shift("2020-01-01", start[e] + off)})
    return out


def topical_distractors(basil: list[dict], gold: dict[str, str], polnear: list[dict]) -> list[dict]:
    """polnear articles dated next to the basil event nearest to them by TF-IDF topic (-3..+3 days)."""
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", max_features=50000)
    x = vec.fit_transform([f"{r['title']}\n{r['text']}" for r in basil + polnear])
    events = sorted(set(gold.values()))
    first = {e: min(r["published"] for r in basil if gold[r["article_id"]] == e) for e in events}
    cent = np.vstack([np.asarray(x[[i for i, r in enumerate(basil) if gold[r["article_id"]] == e]].mean(0))
                      for e in events])
    sims = x[len(basil):] @ cent.T
    out = []
    for i, r in enumerate(polnear):
        e = events[int(np.argmax(sims[i]))]
        out.append({**r, "published": _shift(first[e], int(model.stable_id(r["article_id"]), 16) % 7 - 3)})
    return out


def run_storyline(rows: list[dict], threshold: float | None = None, weights=None, bias=None,
                  window: int = 7, salt: str = "") -> dict[str, str]:
    """storyline's streaming assignment of ``rows`` (ties within a timestamp ordered by salted id hash)."""
    threshold = C.MERGE_THRESHOLD if threshold is None else threshold
    weights, bias = (C.WEIGHTS, C.BIAS) if weights is None else (weights, bias)
    key = (lambda r: C.stream_order(r)) if not salt else (
        lambda r: C.stream_order(r)[:2] + (model.stable_id(salt, r["article_id"]),))
    docs = C.featurize(sorted(rows, key=key))
    return {d.article_id: d.story_id for d in C.stream(docs, {}, {}, window, threshold, weights, bias)}


def run_step(rows: list[dict], previous: pa.Table | None = None) -> pa.Table:
    """The pipeline step itself on ``rows`` (what `storyline run` does)."""
    return C.Cluster()(pa.Table.from_pylist(rows), model.REUSE_EDGE.empty_table(), previous=previous)


def _candidate_features(index: "C.StoryIndex", doc: "C.Doc") -> tuple:
    """The article's weighted vectors, its candidate story slots and their full feature rows."""
    vecs = index.weigh(doc)
    slots, x = index.candidates(doc, vecs)
    for i, s in enumerate(slots):
        x[i, C.LAZY:] = index.set_features(doc, int(s))
    return vecs, slots, x


def training_pairs(rows: list[dict], gold: dict[str, str], window: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forced (article, active story so far) feature rows and labels.

    Items missing from ``gold`` are distractors: each is its own story, a negative for every gold
    article and gold story; distractor-distractor rows are skipped (no gold).
    """
    index = C.StoryIndex(window_days=window)
    docs = C.featurize(sorted(rows, key=C.stream_order))
    index.count_df(docs)
    xs, ys = [], []
    for doc in docs:
        vecs, slots, x = _candidate_features(index, doc)
        e = gold.get(doc.article_id, doc.article_id)
        keep = [i for i, s in enumerate(slots) if doc.article_id in gold or index.stories[s].story_id in gold.values()]
        xs.append(x[keep])
        ys.extend(index.stories[slots[i]].story_id == e for i in keep)
        slot = index.by_id.get(e)
        index.add(doc, vecs, index.open(e, doc.day) if slot is None else slot)
    return np.vstack(xs), np.array(ys, int)


def on_policy_pairs(rows: list[dict], gold: dict[str, str], weights: tuple[float, ...], bias: float,
                    threshold: float, salt: str, window: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows from the model's *own* stream, where stories may already be impure (DAgger-style).

    Teacher forcing never shows a story chained out of distractors; this does. A candidate is
    positive when the majority of its gold members is the article's event; distractors only
    contribute rows against stories holding gold articles (always negative).
    """
    index = C.StoryIndex(window_days=window)
    docs = C.featurize(sorted(rows, key=lambda r: C.stream_order(r)[:2] + (model.stable_id(salt, r["article_id"]),)))
    index.count_df(docs)
    events: dict[int, list[str]] = {}
    xs, ys = [], []
    for doc in docs:
        vecs, slots, x = _candidate_features(index, doc)
        major = [max(set(events.get(int(s), [])), key=events.get(int(s), []).count, default=None) for s in slots]
        keep = [i for i, m in enumerate(major) if doc.article_id in gold or m is not None]
        xs.append(x[keep])
        ys.extend(major[i] == gold.get(doc.article_id) for i in keep)
        p = C.merge_probability(x, weights, bias) if len(slots) else np.zeros(0)
        if len(slots) and p.max() >= threshold:
            slot = int(slots[int(np.argmax(p))])
        else:
            slot = index.open(doc.article_id, doc.day)
        index.add(doc, vecs, slot)
        if doc.article_id in gold:
            events.setdefault(slot, []).append(gold[doc.article_id])
    return np.vstack(xs), np.array(ys, int)


# On-policy rounds stream at the permissive end of the threshold grid, so that they see (and learn to
# refuse) the impure stories a looser model builds; the shipped threshold is then picked by CV.
POLICY_THRESHOLD = 0.12


def training_set(rows: list[dict], gold: dict[str, str], polnear: list[dict],
                 rounds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pairs from basil + topic-dated distractors (real dates) and from date-compressed basil,
    teacher-forced, then ``rounds`` of on-policy pairs from the model fitted so far."""
    mixed = rows + topical_distractors(rows, gold, polnear) if polnear else rows
    parts = [training_pairs(mixed, gold), training_pairs(compress(rows, gold), gold)]
    for k in range(rounds):
        w, b = fit(np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        parts += [on_policy_pairs(mixed, gold, w, b, POLICY_THRESHOLD, f"policy{k}.{j}") for j in range(2)]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], float]:
    """Logistic regression merge model; returns (weights, bias)."""
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    return tuple(float(w) for w in lr.coef_[0]), float(lr.intercept_[0])


def _fold(article_id: str, k: int = 5) -> int:
    return int(model.stable_id("fold", article_id), 16) % k


def cross_validate(rows: list[dict], gold: dict[str, str], polnear: list[dict],
                   thresholds: list[float]) -> dict[float, np.ndarray]:
    """5-fold CV by event (distractors split in 5 folds too): fit on 4/5, stream the held-out 1/5.

    Per threshold and fold: B3-F1 with real dates + held-out distractors, distractor rate, and
    B3-F1 with the held-out events compressed into 5 days.
    """
    events = np.array([gold[r["article_id"]] for r in rows])
    scores: dict[float, list[list[float]]] = {t: [] for t in thresholds}
    for k, (train, test) in enumerate(GroupKFold(5).split(rows, groups=events)):
        pn_train = [r for r in polnear if _fold(r["article_id"]) != k]
        pn_test = [r for r in polnear if _fold(r["article_id"]) == k]
        tr = [rows[i] for i in train]
        w, b = fit(*training_set(tr, {r["article_id"]: gold[r["article_id"]] for r in tr}, pn_train))
        held = [rows[i] for i in test]
        held_gold = {r["article_id"]: gold[r["article_id"]] for r in held}
        mixed = held + (topical_distractors(held, held_gold, pn_test) if pn_test else [])
        squeezed = compress(held, held_gold, span=5)
        for t in thresholds:
            pred = run_storyline(mixed, t, w, b)
            scores[t].append([bcubed(pred, held_gold)[2], distractor_rate(pred, held_gold),
                              bcubed(run_storyline(squeezed, t, w, b), held_gold)[2]])
    return {t: np.array(v) for t, v in scores.items()}


def order_dependence(rows: list[dict], gold: dict[str, str], n: int = 10) -> list[tuple[float, float]]:
    """(B3-F1, distractor rate) over ``n`` re-orderings of same-timestamp ties."""
    out = []
    for k in range(n):
        pred = run_storyline(rows, salt=f"order{k}")
        out.append((bcubed(pred, gold)[2], distractor_rate(pred, gold)))
    return out


def two_batch(rows: list[dict], gold: dict[str, str], seed: int) -> tuple[float, float]:
    """B3-F1 and share of articles whose story differs, when a random half is added incrementally."""
    rng = random.Random(seed)
    first = [r for r in rows if rng.random() < 0.5]
    ids = {r["article_id"] for r in first}
    prev = run_step(first)
    both = run_step(rows, previous=prev)
    whole = run_step(rows)
    pred = dict(zip(both["article_id"].to_pylist(), both["story_id"].to_pylist()))
    ref = dict(zip(whole["article_id"].to_pylist(), whole["story_id"].to_pylist()))
    kept = dict(zip(prev["article_id"].to_pylist(), prev["story_id"].to_pylist()))
    assert all(pred[a] == kept[a] for a in ids), "incremental run changed an old assignment"
    pairs_diff = np.mean([(pred[a] == pred[b]) != (ref[a] == ref[b]) for a, b in combinations(sorted(gold), 2)
                          if gold[a] == gold[b] or ref[a] == ref[b] or pred[a] == pred[b]])
    return bcubed(pred, gold)[2], float(pairs_diff)


def speed(rows: list[dict]) -> tuple[float, float, int]:
    """Articles/s of featurizing, and of assignment once the index holds the first half of the stream."""
    rows = sorted(rows, key=C.stream_order)
    t0 = time.perf_counter()
    docs = C.featurize(rows)
    feat = len(rows) / (time.perf_counter() - t0)
    half = len(docs) // 2
    index = C.StoryIndex(7)
    index.count_df(docs)
    assigned: dict[str, str] = {}

    def step(doc: C.Doc) -> None:
        vecs = index.weigh(doc)
        slots, x = index.candidates(doc, vecs)
        sid = C._decide(doc, slots, x, index, assigned, {}, C.MERGE_THRESHOLD, C.WEIGHTS, C.BIAS)[0]
        slot = index.by_id.get(sid)
        index.add(doc, vecs, index.open(sid, doc.day) if slot is None else slot)
        assigned[doc.article_id] = sid

    for doc in docs[:half]:
        step(doc)
    t0 = time.perf_counter()
    for doc in docs[half:]:
        step(doc)
    return feat, (len(docs) - half) / (time.perf_counter() - t0), sum(s.size > 0 for s in index.stories)


def _replicate(rows: list[dict], copies: int) -> list[dict]:
    """``copies`` of ``rows``, each moved 4000 days later than the one before (an archive of years)."""
    return [{**r, "article_id": f"{r['article_id']}#{j}", "published": _shift(r["published"], 4000 * j)}
            for j in range(copies) for r in rows]


def incremental_add(rows: list[dict], copies: int = 4) -> dict[str, float]:
    """An archive of ``copies`` x ``rows``, then the busiest day of its last stretch added as a batch.

    Times the incremental run as the pipeline does it (ids and dates of the archive, stored document
    frequencies and stories, text only for the new articles and the stories active around them)
    against a from-scratch run on the union, with the peak traced memory of each; checks that it
    equals the same method with every article vectorised, and counts how many new articles end up
    with other co-members than in the from-scratch run.
    """
    import tracemalloc
    from collections import Counter

    union = sorted(_replicate(rows, copies), key=C.stream_order)
    day = Counter(r["published"][:10] for r in union[len(union) * 3 // 4:]).most_common(1)[0][0]
    new = [r for r in union if r["published"][:10] == day]
    archive = [r for r in union if r["published"][:10] != day]
    cols = ("article_id", "title", "text", "published")
    prev, old_df = run_step(archive), C.CountDF()(C.Terms()(pa.Table.from_pylist(archive)))
    table = pa.Table.from_pylist(union).cast(pa.schema([model.ARTICLE.field(c) for c in cols]))
    dates = table.select(["article_id", "published"])
    edges = model.REUSE_EDGE.empty_table()

    def incremental() -> pa.Table:
        need = C.Cluster().needs_text(dates, prev)
        terms = C.Terms()(table.filter(pc.is_in(table["article_id"], pa.array(sorted(need), pa.string()))))
        fresh = terms.filter(pc.invert(pc.is_in(terms["article_id"], prev["article_id"])))
        return C.Cluster()(dates, edges, previous=prev, df=C.CountDF()(fresh, old_df), terms=terms)

    def scratch() -> pa.Table:
        return C.Cluster()(table, edges)

    out: dict[str, float] = {"archive": len(archive), "new": len(new)}
    for name, fn in (("incremental", incremental), ("scratch", scratch)):
        t0 = time.perf_counter()
        result = fn()
        out[f"{name}_s"] = time.perf_counter() - t0
        tracemalloc.start()
        fn()
        out[f"{name}_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out[name] = result  # type: ignore[assignment]
    inc, ref = out.pop("incremental"), out.pop("scratch")  # type: ignore[misc]
    assert inc.equals(C.Cluster()(table, edges, previous=prev)), "stored counts changed the result"  # type: ignore[arg-type]
    out["vectorised"] = len(C.Cluster().needs_text(dates, prev))
    group = lambda t: {a: s for a, s in zip(t["article_id"].to_pylist(), t["story_id"].to_pylist())}  # noqa: E731
    gi, gr = group(inc), group(ref)
    mates = lambda g, a: {b for b in g if g[b] == g[a]}  # noqa: E731
    out["new_differ"] = sum(mates(gi, r["article_id"]) != mates(gr, r["article_id"]) for r in new)
    return out


def _line(name: str, pred: dict[str, str], gold: dict[str, str], dt: float, n: int) -> str:
    p, r, f = bcubed(pred, gold)
    return (f"{name:40} {p:6.3f} {r:6.3f} {f:6.3f} {pairwise_f1(pred, gold):7.3f} "
            f"{100 * distractor_rate(pred, gold):6.2f} {n / dt:8.0f}")


def main() -> None:
    """Print the comparison table, CV, order dependence and speed."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--polnear", type=Path, default=POLNEAR)
    ap.add_argument("--fit", action="store_true", help="refit the merge model on all of --data and print it")
    ap.add_argument("--quick", action="store_true", help="only the main table")
    args = ap.parse_args()
    rows, gold = load(args.data)
    if args.fit:
        w, b = fit(*training_set(rows, gold, load_polnear(args.polnear) if args.polnear.exists() else []))
        print(f"WEIGHTS = ({', '.join(f'{v:.3f}' for v in w)})  # {C.FEATURES}\nBIAS = {b:.3f}")
    polnear = load_polnear(args.polnear) if args.polnear.exists() else []
    streams = [("basil", rows), ("basil-compressed", compress(rows, gold))]
    if polnear:
        streams.append(("basil+polnear (topic-dated)", rows + topical_distractors(rows, gold, polnear)))
        streams.append(("basil+polnear (own dates)", rows + polnear))
    print(f"basil-dev: {len(rows)} articles, {len(set(gold.values()))} events; polnear distractors: {len(polnear)}")
    print(f"{'stream / system':40} {'B3-P':>6} {'B3-R':>6} {'B3-F1':>6} {'pair-F1':>7} {'distr%':>6} {'art/s':>8}")
    for name, stream_rows in streams:
        t0 = time.perf_counter()
        out = run_step(stream_rows)
        dt = time.perf_counter() - t0
        print(_line(f"{name}: storyline", dict(zip(out["article_id"].to_pylist(), out["story_id"].to_pylist())),
                    gold, dt, len(stream_rows)))
        t0 = time.perf_counter()
        base = baseline(stream_rows)
        print(_line(f"{name}: tfidf+agglomerative 0.2", base, gold, time.perf_counter() - t0, len(stream_rows)))
    if args.quick:
        return
    grid = [0.1, 0.12, 0.15, 0.2, 0.3]
    cv = cross_validate(rows, gold, polnear, grid)
    print("CV by event, 5 folds (mean over folds): threshold | B3-F1 real dates+distractors | distr% | "
          "B3-F1 compressed dates")
    for t, v in cv.items():
        m = v.mean(0)
        print(f"  {t:.2f} | {m[0]:.3f} | {100 * m[1]:.2f} | {m[2]:.3f}" + ("  <- shipped" if t == C.MERGE_THRESHOLD else ""))
    if polnear:
        mixed = rows + topical_distractors(rows, gold, polnear)
        for name, stream_rows in (("topic-dated", mixed), ("own dates", rows + polnear)):
            od = np.array(order_dependence(stream_rows, gold))
            print(f"order dependence (10 tie orders, basil+polnear {name}): B3-F1 {od[:, 0].mean():.4f} "
                  f"± {od[:, 0].std():.4f} (min {od[:, 0].min():.4f}), distr% {100 * od[:, 1].mean():.2f} "
                  f"± {100 * od[:, 1].std():.2f} (per order: {' '.join(f'{100 * v:.1f}' for v in od[:, 1])})")
        tb = np.array([two_batch(mixed, gold, s) for s in range(3)])
        print(f"two-batch incremental (random halves, 3 seeds): B3-F1 {tb[:, 0].mean():.4f} ± {tb[:, 0].std():.4f}; "
              f"co-membership flips vs one batch {100 * tb[:, 1].mean():.2f}%")
        inc = incremental_add(mixed)
        print(f"incremental add (archive {inc['archive']:.0f} articles = 4 x basil+polnear over 40 years, "
              f"+ a day's batch of {inc['new']:.0f}): {inc['incremental_s']:.2f} s, {inc['incremental_mb']:.0f} MB "
              f"peak, {inc['vectorised']:.0f} articles vectorised; from scratch on the union "
              f"{inc['scratch_s']:.2f} s, {inc['scratch_mb']:.0f} MB; same result as vectorising everything; "
              f"new articles with other co-members than from scratch: {inc['new_differ']:.0f}")
        feat, assign, n_stories = speed(mixed * 1)
        print(f"speed (1 core): featurize {feat:.0f} art/s; assignment once warm {assign:.0f} art/s "
              f"({n_stories} stories)")


if __name__ == "__main__":
    main()
