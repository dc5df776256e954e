"""Same-story clustering accuracy on BASIL (same events covered by NYT, Fox News, HuffPost).

Prints BCubed P/R/F1 and pairwise F1 for storyline's clusterer and a TF-IDF + agglomerative
baseline, in one run, plus articles/s. Usage: python bench/clustering.py [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer

from storyline import model
from storyline.config import ClusterConfig
from storyline.steps.cluster import Cluster

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared/data/basil-dev.jsonl"


def bcubed(pred: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """BCubed precision, recall, F1 over the items of ``gold``."""
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
    """F1 of same-cluster pairs."""
    items = sorted(gold)
    pp = {(a, b) for a, b in combinations(items, 2) if pred[a] == pred[b]}
    gp = {(a, b) for a, b in combinations(items, 2) if gold[a] == gold[b]}
    tp = len(pp & gp)
    return 2 * tp / max(1, len(pp) + len(gp))


def baseline(rows: list[dict], threshold: float = 0.2) -> dict[str, str]:
    """TF-IDF cosine + average-linkage agglomerative clustering."""
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


def run_storyline(rows: list[dict], cfg: ClusterConfig) -> tuple[dict[str, str], float]:
    """storyline's clustering of ``rows`` and the seconds it took."""
    table = pa.Table.from_pylist(rows)
    t0 = time.perf_counter()
    out = Cluster(cfg)(table, model.REUSE_EDGE.empty_table())
    dt = time.perf_counter() - t0
    return dict(zip(out["article_id"].to_pylist(), out["story_id"].to_pylist())), dt


def main() -> None:
    """Print the comparison table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--sweep", action="store_true", help="also print F1 over a threshold sweep")
    args = ap.parse_args()
    rows, gold = load(args.data)
    print(f"BASIL dev: {len(rows)} articles, {len(set(gold.values()))} events")
    print(f"{'system':34} {'B3-P':>6} {'B3-R':>6} {'B3-F1':>6} {'pair-F1':>7} {'art/s':>7}")
    pred, dt = run_storyline(rows, ClusterConfig())
    p, r, f = bcubed(pred, gold)
    print(f"{'storyline':34} {p:6.3f} {r:6.3f} {f:6.3f} {pairwise_f1(pred, gold):7.3f} {len(rows) / dt:7.0f}")
    t0 = time.perf_counter()
    base = baseline(rows)
    dt = time.perf_counter() - t0
    p, r, f = bcubed(base, gold)
    print(f"{'tfidf+agglomerative (0.2)':34} {p:6.3f} {r:6.3f} {f:6.3f} {pairwise_f1(base, gold):7.3f} {len(rows) / dt:7.0f}")
    if args.sweep:
        for th in np.arange(0.10, 0.55, 0.04):
            pred, _ = run_storyline(rows, ClusterConfig(threshold=float(th)))
            print(f"  storyline threshold={th:.2f}: B3-F1={bcubed(pred, gold)[2]:.3f}")


if __name__ == "__main__":
    main()
