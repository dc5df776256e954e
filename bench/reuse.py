"""Reuse detection bench: storyline vs an exact brute-force gold and a datasketch MinHashLSH pipeline.

Prints one table:
  (a) recall / precision of cross-outlet reuse pairs on PolNeAR-train against an exhaustive gold
      (every cross-publisher pair sharing a hashed word 8-gram, verified with difflib: a passage of
      >= 25 aligned words, blocks chained with gaps <= 6 words);
  (b) a planted-reprint test built from real articles (BASIL + PolNeAR) with realistic edits;
  (c) candidate+align throughput, docs per CPU-second, storyline vs datasketch MinHash +
      MinHashLSH(threshold=0.5, num_perm=128) + the same alignment, on a synthetic-from-real corpus;
  (d) fingerprint+candidates at scale, streaming on 2 processes: keys and key-sharing pairs are
      spilled to hash partitions on disk and counted one partition at a time (min_shared_grams applied
      as CountPairs does); wall time, and peak RSS of the parent (VmHWM) and of the largest worker.

Usage: python bench/reuse.py [--n 20000] [--scale-n 100000]   (--scale-n 1000000 for the 1M run)
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

from storyline import model
from storyline.config import AlignConfig, CandidatesConfig, FingerprintConfig
from storyline.engines.local import LocalEngine
from storyline.steps.align import Align, align_tokens
from storyline.steps.candidates import Candidates, CountPairs, key_pairs, shared_rows
from storyline.steps.fingerprint import fingerprint_batch
from storyline.textutil import mix64, tokenize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MIN_WORDS = 25  # a reuse pair shares a passage of at least this many aligned words
GOLD_GAP = 6
_W = re.compile(r"\w+")


# ----------------------------------------------------------------------------- data
def load_real() -> list[dict]:
    """PolNeAR-train and BASIL-dev articles as ``{id, outlet, date, text}``."""
    rows = []
    for line in open(DATA / "polnear-train.jsonl", encoding="utf-8"):
        r = json.loads(line)
        rows.append({"id": "p:" + r["filename"], "outlet": r["publisher"], "date": r["publication_date"], "text": r["text"]})
    for line in open(DATA / "basil-dev.jsonl", encoding="utf-8"):
        r = json.loads(line)
        rows.append({"id": f"b:{r['id']}", "outlet": "basil-" + str(r["source"]), "date": str(r.get("date") or ""), "text": r["text"]})
    return rows


# ----------------------------------------------------------------------------- exact gold
def _gold_words(text: str) -> list[str]:
    return [w.lower() for w in _W.findall(text.replace(".", "").replace("'", "").replace("’", ""))]


def _passage_words(a: list[str], b: list[str], i: int, j: int) -> tuple[int, int]:
    """``(aligned words, end in a)`` of the longest passage near seed ``(i, j)``.

    difflib matching blocks within 400 words of the seed, chained while both gaps are <= GOLD_GAP.
    """
    lo_a, lo_b = max(0, i - 400), max(0, j - 400)
    sm = difflib.SequenceMatcher(a=a[lo_a : i + 400], b=b[lo_b : j + 400], autojunk=False)
    best, best_end, cur, last = 0, i + 1, 0, None
    for x, y, n in sm.get_matching_blocks():
        if not n:
            continue
        x, y = x + lo_a, y + lo_b
        chained = last is not None and 0 <= x - last[0] <= GOLD_GAP and 0 <= y - last[1] <= GOLD_GAP
        cur = cur + n if chained else n
        last = (x + n, y + n)
        if cur > best:
            best, best_end = cur, x + n
    return best, best_end


def exact_gold(docs: list[dict], pairs_filter=None, cross_outlet: bool = True) -> set[tuple[str, str]]:
    """Every pair (cross-outlet unless told otherwise) sharing a passage of >= MIN_WORDS aligned words, exhaustively."""
    words = [_gold_words(d["text"]) for d in docs]
    index: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for di, ws in enumerate(words):
        seen = set()
        for p in range(len(ws) - 7):
            h = xxhash.xxh64_intdigest(" ".join(ws[p : p + 8]).encode())
            if h not in seen:
                seen.add(h)
                index[h].append((di, p))
    seeds: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for posts in index.values():
        for x in range(len(posts)):
            for y in range(x + 1, len(posts)):
                (da, pa_), (db, pb) = posts[x], posts[y]
                if (not cross_outlet or docs[da]["outlet"] != docs[db]["outlet"]) and (pairs_filter is None or pairs_filter(da, db)):
                    seeds[(da, db)].append((pa_, pb))
    gold = set()
    for (da, db), ss in seeds.items():
        ss.sort()
        done_until = -1
        for i, j in ss:
            if i < done_until:
                continue
            n, end = _passage_words(words[da], words[db], i, j)
            done_until = end
            if n >= MIN_WORDS:
                gold.add(tuple(sorted((docs[da]["id"], docs[db]["id"]))))
                break
    return gold


# ----------------------------------------------------------------------------- storyline
def articles_table(docs: list[dict]) -> pa.Table:
    rows = [{"article_id": d["id"], "path": d["id"], "record": 0, "url": None, "outlet": d["outlet"],
             "published": d.get("date"), "title": "", "byline": None, "text": d["text"], "raw_text": "",
             "source_kind": "text", "lang": "en", "extras": []} for d in docs]
    return pa.Table.from_pylist(rows, schema=model.ARTICLE)


def storyline_pairs(docs: list[dict], eng: LocalEngine | None = None,
                    arts: pa.Table | None = None) -> tuple[dict[tuple[str, str], int], int]:
    """``({pair: longest passage words}, candidate pairs)`` from fingerprint -> candidates -> align."""
    from storyline.steps.fingerprint import Fingerprint
    eng = eng or LocalEngine(batch_rows=1024)
    arts = articles_table(docs) if arts is None else arts
    keys = eng.map(Fingerprint(FingerprintConfig()), arts)
    keys = shared_rows(keys)  # as pipeline.corpus_stages does
    pairs = eng.group(CountPairs(CandidatesConfig()), eng.group(Candidates(CandidatesConfig()), keys))
    text = dict(zip(arts["article_id"].to_pylist(), arts["text"].to_pylist()))
    view = pa.table({"a_id": pairs["a_id"], "a_text": [text[a] for a in pairs["a_id"].to_pylist()],
                     "b_id": pairs["b_id"], "b_text": [text[b] for b in pairs["b_id"].to_pylist()]})
    al = eng.map(Align(AlignConfig()), view)
    best: dict[tuple[str, str], int] = {}
    for a, b, w in zip(al["a_id"].to_pylist(), al["b_id"].to_pylist(), al["words"].to_pylist()):
        if w is None:  # a pair past the alignment timeout (a reject row): no passage
            continue
        k = tuple(sorted((a, b)))
        best[k] = max(best.get(k, 0), w)
    return best, pairs.num_rows


def outlet_of(docs: list[dict], doc_id: str) -> str:
    return next(d["outlet"] for d in docs if d["id"] == doc_id)


def score(pred: set, gold: set) -> tuple[float, float, int, int]:
    tp = len(pred & gold)
    return tp / max(1, len(gold)), tp / max(1, len(pred)), len(pred - gold), len(gold - pred)


# ----------------------------------------------------------------------------- edits
SUBS = [("U.S.", "US"), ("United States", "U.S."), ("Islamic State", "ISIS"), ("percent", "per cent"),
        ("said", "stated"), ("told", "said to"), ("President", "Pres."), ("Mr.", ""), ("however", "but"),
        ("approximately", "about"), ("Washington", "D.C."), ("Republican", "GOP"), ("announced", "said"),
        ("people", "individuals"), ("because", "since"), ("also", "")]
BOILER = ["Copyright 2016 The Associated Press. All rights reserved. This material may not be published.",
          "Click here to subscribe to our newsletter and get the latest news delivered to your inbox.",
          "Follow us on Twitter and Facebook for more updates.", "Advertisement",
          "Read more: Top stories of the day you may have missed", "Share this article with your friends"]


def paras(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def edit_words(text: str, rng: random.Random, rate: float) -> str:
    """Word substitutions from SUBS plus random dropped words, about ``rate`` per word."""
    for old, new in SUBS:
        if old in text and rng.random() < 0.5:
            text = text.replace(old, new, 1)
    ws = text.split(" ")
    out = [w for w in ws if not (rng.random() < rate / 2 and len(w) > 3 and not w.endswith("\n"))]
    return " ".join(out)


def reprint(text: str, rng: random.Random, filler: list[str]) -> str:
    ps = paras(text)
    if len(ps) > 4:
        for _ in range(rng.randint(1, 2)):
            ps.pop(rng.randrange(1, len(ps)))
    if filler:
        ps.insert(rng.randrange(0, len(ps) + 1), rng.choice(filler))
    ps = [edit_words(p, rng, 0.02) for p in ps]
    return "\n\n".join([rng.choice(BOILER)] + ps + rng.sample(BOILER, 2))


def excerpt(text: str, rng: random.Random, filler: list[str]) -> str:
    """Three consecutive paragraphs and a quote of ``text`` embedded in new text."""
    ps = paras(text)
    s = rng.randrange(0, max(1, len(ps) - 3))
    taken = [edit_words(p, rng, 0.02) for p in ps[s : s + 3]]
    quotes = [q for q in re.findall(r"“[^”]{40,300}”", text)][:1]
    own = rng.sample(filler, min(len(filler), rng.randint(4, 8)))
    body = own[:2] + taken + own[2:4] + [f"As one official put it, {q}" for q in quotes] + own[4:]
    return "\n\n".join(body + [rng.choice(BOILER)])


def planted(real: list[dict], rng: random.Random, n_base: int = 300) -> tuple[list[dict], set]:
    """Originals plus an edited copy of each; fillers come from articles left out of the corpus."""
    pool = real[:]
    rng.shuffle(pool)
    base, spare = pool[:n_base], pool[n_base:]
    filler = [p for d in spare for p in paras(d["text"]) if len(p.split()) > 20]
    docs, truth = list(base), set()
    for i, d in enumerate(base):
        kind = ("reprint", "excerpt", "excerpt")[i % 3]
        if len(d["text"].split()) < 120:
            continue
        text = reprint(d["text"], rng, filler) if kind == "reprint" else excerpt(d["text"], rng, filler)
        copy = {"id": f"copy{i}:{kind}", "outlet": f"copier{i}", "date": d["date"], "text": text}
        docs.append(copy)
        truth.add(tuple(sorted((d["id"], copy["id"]))))
    return docs, truth


# ----------------------------------------------------------------------------- synthetic corpus
class Markov:
    """A word-bigram model of real articles: unique text with real vocabulary and stock phrases."""

    def __init__(self, texts: list[str]) -> None:
        vocab: dict[str, int] = {}
        seqs = []
        for t in texts:
            seqs.append([vocab.setdefault(w, len(vocab)) for w in t.split()])
        self.words = np.array(list(vocab), dtype=object)
        a = np.concatenate([s[:-1] for s in seqs if len(s) > 1])
        b = np.concatenate([s[1:] for s in seqs if len(s) > 1])
        order = np.argsort(a, kind="stable")
        self.succ = b[order]
        self.count = np.bincount(a, minlength=len(vocab))
        self.off = np.r_[0, np.cumsum(self.count)[:-1]]
        self.starts = np.array([s[0] for s in seqs if s])

    def docs(self, n: int, seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        lens = rng.integers(150, 1000, size=n)
        cur = rng.choice(self.starts, size=n)
        out = np.empty((n, lens.max()), dtype=np.int64)
        for t in range(lens.max()):
            out[:, t] = cur
            cnt = self.count[cur]
            dead = cnt == 0
            cur = np.where(dead, rng.choice(self.starts, size=n),
                           self.succ[self.off[cur] + (rng.random(n) * np.maximum(cnt, 1)).astype(np.int64) % np.maximum(cnt, 1)])
        texts = []
        for row, ln in zip(out, lens):
            ws = self.words[row[:ln]].tolist()
            texts.append("\n\n".join(" ".join(ws[p : p + 60]) for p in range(0, len(ws), 60)))
        return texts


def synthetic(model_: Markov, n: int, seed: int, copy_rate: float = 0.05) -> list[dict]:
    rng = random.Random(seed)
    texts = model_.docs(n, seed)
    docs = [{"id": f"s{seed}:{i}", "outlet": f"o{i % 50}", "date": "", "text": t} for i, t in enumerate(texts)]
    for i in range(n):
        if i > 10 and rng.random() < copy_rate:
            src = docs[rng.randrange(0, i)]["text"]
            filler = paras(texts[i])
            docs[i]["text"] = reprint(src, rng, filler) if rng.random() < 0.5 else excerpt(src, rng, filler)
    return docs


# ----------------------------------------------------------------------------- throughput
def datasketch_pipeline(docs: list[dict]) -> int:
    """datasketch MinHash + MinHashLSH(0.5, 128) candidates, verified by the same alignment."""
    from datasketch import MinHash, MinHashLSH
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    sigs = []
    for i, d in enumerate(docs):
        ws = [w.lower() for w in _W.findall(d["text"])]
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(ws[p : p + 5]).encode() for p in range(max(0, len(ws) - 4))])
        lsh.insert(str(i), m)
        sigs.append(m)
    pairs = {tuple(sorted((i, int(j)))) for i, m in enumerate(sigs) for j in lsh.query(m) if int(j) != i}
    return _verify(docs, sorted(pairs))


def _verify(docs: list[dict], pairs: list[tuple[int, int]]) -> int:
    cfg, toks, found = AlignConfig(), {}, 0
    for a, b in pairs:
        ta = toks.get(a) or toks.setdefault(a, tokenize(docs[a]["text"], aliases=True))
        tb = toks.get(b) or toks.setdefault(b, tokenize(docs[b]["text"], aliases=True))
        found += bool(align_tokens(ta, tb, cfg))
    return found


def cpu() -> float:
    return time.process_time()


# ----------------------------------------------------------------------------- scale (streaming)
def _scale_chunk(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start, n, seed = args
    docs = synthetic(_MODEL, n, seed)
    doc, is_band, key = fingerprint_batch([d["text"] for d in docs], FingerprintConfig())
    return (doc + start).astype(np.int32), is_band, key


_MODEL: Markov | None = None


def _init(texts: list[str]) -> None:
    global _MODEL
    _MODEL = Markov(texts)


def _bounded_map(pool: ProcessPoolExecutor, fn, jobs: list, window: int):
    """``pool.map`` with at most ``window`` jobs in flight: finished results cannot pile up in this
    process (it shares the 2 cores with the workers), so its memory does not grow with the corpus."""
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.submit(fn, job))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def scale(n: int, chunk: int = 2000, workers: int = 2, parts: int = 0) -> dict:
    """Stream ``n`` synthetic docs through fingerprint (``workers`` processes) and candidates."""
    parts = parts or max(16, n // 15_000)  # ~2.5M keys per partition bounds the candidates' memory
    texts = [d["text"] for d in load_real()]
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="reuse-scale-"))
    files = {(p, kind): open(tmp / f"{p}-{kind}.bin", "ab") for p in range(parts) for kind in ("k", "d", "b")}
    rows = 0
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(texts,)) as pool:
        jobs = [(s, min(chunk, n - s), 7000 + s // chunk) for s in range(0, n, chunk)]
        for doc, is_band, key in _bounded_map(pool, _scale_chunk, jobs, 2 * workers):
            part = (key % np.uint64(parts)).astype(np.int64)  # keys are hashes: low bits are uniform
            for p in range(parts):
                m = part == p
                files[(p, "k")].write(key[m].tobytes())
                files[(p, "d")].write(doc[m].tobytes())
                files[(p, "b")].write(is_band[m].tobytes())
            rows += key.size
    # The pool is shut down and its workers reaped: RUSAGE_CHILDREN is the largest worker's peak.
    worker_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    for f in files.values():
        f.close()
    t_fp = time.time() - t0
    # Candidates as the CountPairs step decides them: a band link counts, a gram link needs
    # min_shared_grams shared keys. Pairs are spilled to files by pair hash so counting stays
    # one partition at a time (streaming), never the whole pair list in memory.
    cfg = CandidatesConfig()
    pfiles = {(p, kind): open(tmp / f"pairs{p}-{kind}.bin", "ab") for p in range(parts) for kind in ("band", "gram")}
    raw_pairs = 0
    for p in range(parts):
        k = np.fromfile(tmp / f"{p}-k.bin", dtype=np.uint64)
        d = np.fromfile(tmp / f"{p}-d.bin", dtype=np.int32)
        b = np.fromfile(tmp / f"{p}-b.bin", dtype=bool)
        for kind, mask in (("band", b), ("gram", ~b)):
            a_, b_ = key_pairs(k[mask], d[mask], cfg.max_bucket)
            code = a_.astype(np.uint64) * np.uint64(n) + b_.astype(np.uint64)
            raw_pairs += code.size
            part = (mix64(code) % np.uint64(parts)).astype(np.int64)
            for q in range(parts):
                pfiles[(q, kind)].write(code[part == q].tobytes())
        del k, d, b
    for f in pfiles.values():
        f.close()
    n_pairs = 0
    for q in range(parts):
        band = np.unique(np.fromfile(tmp / f"pairs{q}-band.bin", dtype=np.uint64))
        gram, cnt = np.unique(np.fromfile(tmp / f"pairs{q}-gram.bin", dtype=np.uint64), return_counts=True)
        n_pairs += np.union1d(band, gram[cnt >= cfg.min_shared_grams]).size
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return {"n": n, "keys": rows, "pairs": int(n_pairs), "raw_pairs": int(raw_pairs), "fp_s": round(t_fp, 1),
            "total_s": round(time.time() - t0, 1),
            "parent_rss_mb": round(_vm_hwm_kb() / 1024), "worker_rss_mb": round(worker_kb / 1024)}


def _vm_hwm_kb() -> int:
    """This process's own peak resident set (VmHWM), not inherited from whoever started it."""
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="synthetic docs for the throughput comparison")
    ap.add_argument("--scale-n", type=int, default=100000, help="docs for the streaming scale run (1000000 for 1M)")
    ap.add_argument("--scale-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale_only:
        print(json.dumps(scale(args.scale_n)))
        return
    real = load_real()
    table = []

    # (a) real cross-outlet pairs, PolNeAR-train
    pol = [d for d in real if d["id"].startswith("p:")]
    t = time.time()
    gold = exact_gold(pol)
    t_gold = time.time() - t
    best, n_cand = storyline_pairs(pol)
    outlet = {d["id"]: d["outlet"] for d in pol}
    pred = {p for p, w in best.items() if w >= MIN_WORDS and outlet[p[0]] != outlet[p[1]]}
    r, p, fp, fn = score(pred, gold)
    table.append(("(a) polnear cross-outlet reuse pairs", f"recall {r:.3f}  precision {p:.3f}",
                  f"gold {len(gold)} pairs (exhaustive, {t_gold:.0f}s); predicted {len(pred)}; FP {fp} FN {fn}; "
                  f"candidates {n_cand}"))

    # (b) planted reprints and excerpts
    docs, truth = planted(real, random.Random(4))
    best, n_cand = storyline_pairs(docs)
    pred = {p for p, w in best.items() if w >= MIN_WORDS}
    # The exhaustive gold over *all* pairs: a same-outlet pair sharing a real >= 25-word passage (a house
    # editor's note) is a true shared passage, not an alignment false positive.
    exact = exact_gold(docs, cross_outlet=False)
    same = {p for p in pred - truth if outlet_of(docs, p[0]) == outlet_of(docs, p[1])}
    r_pl = len(pred & truth) / len(truth)
    false = pred - exact - truth
    by_kind = {k: (sum(1 for t in truth if k in t[0] + t[1] and t in pred), sum(1 for t in truth if k in t[0] + t[1]))
               for k in ("reprint", "excerpt")}
    table.append(("(b) planted copies (300 real originals)", f"recall {r_pl:.3f}  false pairs {len(false) / max(1, len(pred)):.3%}",
                  f"planted {len(truth)} (reprint {by_kind['reprint'][0]}/{by_kind['reprint'][1]}, excerpt "
                  f"{by_kind['excerpt'][0]}/{by_kind['excerpt'][1]}); predicted {len(pred)} ({len(same)} same-outlet); "
                  f"not in exact gold {len(false)}; exact gold finds {len(truth & exact)}/{len(truth)} planted"))

    # (c) throughput on a synthetic-from-real corpus, per CPU-second (one process each)
    syn = synthetic(Markov([d["text"] for d in real]), args.n, seed=11)
    # Both sides get their input in memory and their imports warm before the clock starts.
    arts = articles_table(syn)
    storyline_pairs(syn[:200], LocalEngine(batch_rows=1024))
    datasketch_pipeline(syn[:50])
    t = cpu()
    best, n_cand = storyline_pairs(syn, LocalEngine(batch_rows=1024), arts)
    t_sl = cpu() - t
    t = cpu()
    found_ds = datasketch_pipeline(syn)
    t_ds = cpu() - t
    table.append((f"(c) candidate+align throughput, {args.n} docs", f"storyline/datasketch {t_ds / t_sl:.1f}x",
                  f"storyline {args.n / t_sl:.0f} docs/s/core ({n_cand} candidates, {len(best)} aligned pairs); "
                  f"datasketch {args.n / t_ds:.0f} docs/s/core ({found_ds} aligned pairs)"))
    table.append(("    peak RSS of this process", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", ""))

    # (d) streaming scale run in a fresh process (2 workers)
    out = subprocess.run([sys.executable, __file__, "--scale-only", "--scale-n", str(args.scale_n)],
                         capture_output=True, text=True, check=True)
    s = json.loads(out.stdout.strip().splitlines()[-1])
    table.append((f"(d) fingerprint+candidates, {s['n']} docs, 2 procs", f"{s['total_s']:.0f} s wall, peak RSS {s['parent_rss_mb']} MB + 2x {s['worker_rss_mb']} MB",
                  f"fingerprint {s['fp_s']:.0f} s; {s['keys']} keys; {s['pairs']} candidate pairs "
                  f"({s['raw_pairs']} key-sharing); "
                  f"projected 1M: {s['total_s'] * 1e6 / s['n'] / 60:.1f} min"))

    w = max(len(r[0]) for r in table)
    v = max(len(r[1]) for r in table)
    print(f"{'bench':<{w}}  {'result':<{v}}  detail")
    for name, res, det in table:
        print(f"{name:<{w}}  {res:<{v}}  {det}")


if __name__ == "__main__":
    main()
