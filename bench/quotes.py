"""Direct-quote extraction and speaker attribution on PolNeAR (840 annotated US political articles).

Prints span F1 and quote+speaker F1 for storyline's quote finder and a plain regex baseline (quote
marks + a reporting verb + the nearest capitalised words), per fold of a 5-fold split by article.
Usage: python bench/quotes.py [--data PATH] [--folds 5]

Gold direct quotes. PolNeAR annotates attributions (source, cue, content spans); ``content_has_dq``
says the content holds a direct quote. The content span covers the quote *and* its marks and often
more ("that Clinton's "judgment" was "clearly lacking.""), so the gold direct quotes are the
stretches *inside* paired quotation marks within each such content span: from an opening mark to
the next closing mark (or to the end of the span when it has none; from the start of the span when
it opens inside a quote), whitespace trimmed, keeping at least ``min_quote_words`` words (the
shorter ones are scare quotes such as "judgment", which the quote finder skips by design; their
number is printed). A gold quote inside several attributions keeps every source.

Matching. A prediction matches a gold quote when their word sets (character offsets of ``\\w+``
tokens) have Jaccard overlap >= 0.5, one-to-one, best overlap first; "exact" requires the same
span once edge punctuation is trimmed. For quote+speaker the predicted speaker must also match a
gold source: the last word of the predicted speaker (possessive dropped, case folded) occurs among
the words of the gold source text, or the predicted mention's offsets overlap the gold source
span. A pronoun gold source (he, she, they, ...) is replaced by the nearest gold source before it
in the article that has a capitalised word (the antecedent a reader would pick; documented
approximation). An attribution with no source matches only a prediction without a speaker.

Tuning. The one tuned value is the confidence below which the finder's quotes are dropped
(``QuotesConfig.min_confidence``); it is picked on the training folds (best
quote+speaker F1) and scored on the held-out fold. The "storyline, all" row keeps every quote.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyline.config import QuotesConfig
from storyline.steps.quotes import QuoteSpan, find_quotes

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared/data/polnear-train.jsonl"
PRONOUNS = {"he", "she", "they", "it", "we", "i", "him", "her", "them", "you", "us", "his", "their", "its"}
OPEN, CLOSE, STRAIGHT = "“«„", "”»", '"'
THRESHOLDS = (0.0, 0.2, 0.31, 0.4, 0.5, 0.6)


@dataclass(frozen=True)
class Gold:
    """A gold direct quote and the words of its (resolved) sources."""

    start: int
    end: int
    sources: tuple[frozenset[str], ...]  # empty frozenset: no source
    source_spans: tuple[tuple[int, int], ...]


def quoted_parts(text: str, cs: int, ce: int) -> list[tuple[int, int]]:
    """The stretches inside quotation marks within ``text[cs:ce]``."""
    marks = [i for i in range(cs, ce) if text[i] in OPEN + CLOSE + STRAIGHT]
    out, opened = [], None
    for i in marks:
        ch = text[i]
        is_open = ch in OPEN or (ch == STRAIGHT and opened is None)
        if opened is None and is_open:
            opened = i
        elif opened is not None and not (ch in OPEN):
            out.append((opened + 1, i))
            opened = None
        elif opened is None:  # the span starts inside a quote
            out.append((cs, i))
    if opened is not None:
        out.append((opened + 1, ce))
    return [trim(text, a, b) for a, b in out]


def trim(text: str, a: int, b: int) -> tuple[int, int]:
    """``[a, b)`` without surrounding whitespace."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def source_words(text: str, attrs: list[dict], k: int) -> frozenset[str]:
    """Words of attribution ``k``'s source, a pronoun replaced by the nearest named source before."""
    src = attrs[k]["source"]
    if not src:
        return frozenset()
    words = re.findall(r"\w+", " ".join(s[2] for s in src))
    if words and all(w.lower() in PRONOUNS for w in words):
        at = src[0][0]
        named = [
            (a["source"][0][0], a["source"])
            for a in attrs
            if a["source"] and a["source"][0][0] < at and re.search(r"\b[A-Z][a-z]", a["source"][0][2])
            and not all(w.lower() in PRONOUNS for w in re.findall(r"\w+", a["source"][0][2]))
        ]
        if named:
            words += re.findall(r"\w+", " ".join(s[2] for s in max(named)[1]))
    return frozenset(w.lower() for w in words)


def gold_quotes(row: dict, min_words: int) -> tuple[list[Gold], int]:
    """Gold direct quotes of one article and the number of too-short ones left out."""
    text, attrs = row["text"], row["annotations"][row["primary_annotator"]]
    found: dict[tuple[int, int], tuple[list, list]] = {}
    short = 0
    for k, a in enumerate(attrs):
        if not a["content_has_dq"]:
            continue
        words = source_words(text, attrs, k)
        spans = [(s[0], s[1]) for s in a["source"]]
        for cs, ce, _ in a["content"]:
            for qa, qb in quoted_parts(text, cs, ce):
                if len(re.findall(r"\w+", text[qa:qb])) < min_words:
                    short += 1
                    continue
                srcs, sp = found.setdefault((qa, qb), ([], []))
                srcs.append(words)
                sp.extend(spans)
    gold = [Gold(a, b, tuple(s), tuple(sp)) for (a, b), (s, sp) in sorted(found.items())]
    return gold, short


def word_set(text: str, a: int, b: int) -> set[int]:
    return {m.start() + a for m in re.finditer(r"\w+", text[a:b])}


def speaker_ok(q: QuoteSpan, g: Gold) -> bool:
    """The predicted speaker names one of the gold sources (see the module docstring)."""
    if q.speaker is None:
        return any(not s for s in g.sources)
    last = re.sub(r"[’']s?$", "", q.speaker.split()[-1]).lower()
    if any(last in s for s in g.sources):
        return True
    if q.speaker_start is not None:
        return any(q.speaker_start < b and a < q.speaker_end for a, b in g.source_spans)
    return False


def match(text: str, pred: list[QuoteSpan], gold: list[Gold]) -> tuple[int, int, int]:
    """(overlap matches, exact matches, overlap matches with the right speaker)."""
    pairs = []
    for i, q in enumerate(pred):
        ps = word_set(text, q.start, q.end)
        for j, g in enumerate(gold):
            if q.start < g.end and g.start < q.end:
                gs = word_set(text, g.start, g.end)
                jac = len(ps & gs) / max(1, len(ps | gs))
                if jac >= 0.5:
                    pairs.append((jac, i, j))
    used_p, used_g, n, exact, spk = set(), set(), 0, 0, 0
    edge = ".,;:!?—–-'\"“”‘’ "
    for _, i, j in sorted(pairs, reverse=True):
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        n += 1
        q, g = pred[i], gold[j]
        exact += q.quote.strip(edge) == text[g.start : g.end].strip(edge)
        spk += speaker_ok(q, g)
    return n, exact, spk


VERB = r"(?:said|says|told|added|stated|asked|wrote|noted|argued|explained|according to)"
BASE_Q = re.compile(r"[“\"]([^”\"\n]+)[”\"]")
BASE_NAME = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def baseline(text: str, cfg: QuotesConfig) -> list[QuoteSpan]:
    """Regex baseline: quoted text, a reporting verb within 80 chars, the nearest capitalised words."""
    out = []
    for m in BASE_Q.finditer(text):
        if len(re.findall(r"\w+", m.group(1))) < cfg.min_quote_words:
            continue
        speaker, ss = None, None
        after = text[m.end() : m.end() + 80]
        before = text[max(0, m.start() - 80) : m.start()]
        if re.search(VERB, after):
            names = list(BASE_NAME.finditer(after))
            if names:
                speaker, ss = names[0].group(), m.end() + names[0].start()
        elif re.search(VERB, before):
            names = list(BASE_NAME.finditer(before))
            if names:
                speaker, ss = names[-1].group(), m.start() - len(before) + names[-1].start()
        se = ss + len(speaker) if speaker else None
        out.append(QuoteSpan(m.start(1), m.end(1), m.group(1), speaker, speaker, ss, se, None, 1.0))
    return out


def scores(counts: np.ndarray) -> dict[str, float]:
    """F1s from summed [pred, gold, overlap, exact, speaker] counts."""
    p, g, n, ex, sp = counts

    def f1(tp: float) -> float:
        return 0.0 if tp == 0 else 2 * tp / (p + g)

    return {
        "span_f1": f1(n), "exact_f1": f1(ex), "speaker_f1": f1(sp), "P_spk": sp / max(p, 1), "R_spk": sp / max(g, 1)
    }


def run(rows: list[dict], folds: int) -> None:
    cfg = QuotesConfig()
    golds, short = [], 0
    for r in rows:
        g, s = gold_quotes(r, cfg.min_quote_words)
        golds.append(g)
        short += s
    t0 = time.perf_counter()
    preds = [find_quotes(r["text"], cfg, min_confidence=0.0) for r in rows]
    secs = time.perf_counter() - t0
    base = [baseline(r["text"], cfg) for r in rows]

    def counts(pred: list[list[QuoteSpan]], idx: list[int], thr: float = 0.0) -> np.ndarray:
        c = np.zeros(5)
        for i in idx:
            p = [q for q in pred[i] if q.confidence >= thr]
            c += (len(p), len(golds[i]), *match(rows[i]["text"], p, golds[i]))
        return c

    order = np.random.default_rng(0).permutation(len(rows))
    fold_of = {int(i): k % folds for k, i in enumerate(order)}
    res: dict[str, list[dict]] = {"storyline": [], "storyline, all": [], "regex baseline": []}
    chosen = []
    for f in range(folds):
        train = [i for i in range(len(rows)) if fold_of[i] != f]
        test = [i for i in range(len(rows)) if fold_of[i] == f]
        thr = max(THRESHOLDS, key=lambda t: scores(counts(preds, train, t))["speaker_f1"])
        chosen.append(thr)
        res["storyline"].append(scores(counts(preds, test, thr)))
        res["storyline, all"].append(scores(counts(preds, test)))  # no quote dropped
        res["regex baseline"].append(scores(counts(base, test)))
    n_gold = sum(len(g) for g in golds)
    print(f"PolNeAR train: {len(rows)} articles, {n_gold} gold direct quotes (>= {cfg.min_quote_words} words; "
          f"{short} shorter left out), {folds} folds by article; thresholds picked: {chosen}")
    keys = ["span_f1", "exact_f1", "speaker_f1", "P_spk", "R_spk"]
    print(f"{'system':<16}" + "".join(f"{k:>18}" for k in keys))
    for name, per in res.items():
        cells = "".join(
            f"{np.mean([d[k] for d in per]):>11.3f} ±{np.std([d[k] for d in per]):.3f}" for k in keys
        )
        print(f"{name:<16}{cells}")
    print("storyline: quotes below the tuned confidence dropped; 'storyline, all': every quote it finds")
    print(f"storyline speed: {len(rows) / secs:.0f} articles/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    run(rows, args.folds)


if __name__ == "__main__":
    main()
