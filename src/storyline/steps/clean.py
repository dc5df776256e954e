"""Recover the article body and its metadata from a scraped page.

Two modes share one output, :class:`Cleaned`:

* HTML mode (:func:`clean_html`): trafilatura with metadata, with text mode on a neutral text
  rendering as a second opinion: it takes over when trafilatura finds little, or only a part of
  the body text mode finds. A fitted edge trimmer then cuts leading and trailing paragraphs that
  are not body (headline, teaser, newsletter box, related links, credits).
* Text mode (:func:`clean_text`): whole-page text (menus, share bars, reader comments, related
  links mixed in) goes through a two-stage line classifier. Stage one scores each line from its
  own shape and its neighbours'; the densest run of prose (a maximum-sum segment that cannot cross
  a comment-section line) gives stage two its position features. A block model then drops whole
  blocks (runs of lines between blank lines) judged against the rest of the page (see
  :func:`block_features`). The weights are logistic regressions fitted on extraction-dev by
  ``bench/extraction.py --fit`` and pasted below; markdown pages (html2text-like renderings) have
  a second set of line weights and block model of their own. A few
  line shapes are dropped whatever the score: comment sections, timers, e-mail lines, photo credits.
  Lists are judged whole: bullets announced by a kept line ending in a colon are kept, a numbered
  list follows its first item, and a page where almost nothing is kept keeps its longest table.

The :class:`Clean` step maps ``PAGE`` rows to ``ARTICLE`` rows and rejects the rows with no body.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import model
from ..config import CleanConfig
from .base import REJECT_COLUMN, check_reads, record_limits, with_reject

__all__ = [
    "Clean",
    "Cleaned",
    "clean_html",
    "clean_jsonl",
    "clean_text",
    "line_features",
    "parse_date",
    "render_html",
    "site_boilerplate_lines",
    "chunk_site_lines",
]


@dataclass(frozen=True, slots=True)
class Cleaned:
    """The recovered body of one page and whatever metadata the page itself states."""

    title: str | None
    byline: str | None
    published: str | None  # ISO yyyy-mm-dd
    outlet: str | None
    text: str  # paragraphs joined with "\n\n"


# --------------------------------------------------------------------------------------------
# Line shapes. Lexicons are generic web-page vocabulary, never phrases of any particular site.

# Common function words of the languages most frequent in news; prose is dense in them, menus are not.
_STOP = frozenset(
    """a about after all also an and are as at be been but by can could did do does for from had has
    have he her his how i if in into is it its just more most my no not of on one or our out over said
    she so some than that the their them then there these they this to up was we were what when which
    who will with would you your
    de la le les des du et en un une est pour que qui dans sur par pas au aux ce il elle
    el los las del y con por para una se lo su al como más pero
    di il che per non con una sono della nel alla gli
    o os as do da dos das em um uma com não na no ao mais
    der die das und ist nicht ein eine mit von zu den auf für sich dem des auch
    и в не на что с по как это он она к из у за то а но же""".split()
)
_WORD = re.compile(r"\w+")
_SENT_END = re.compile(r"[.!?…](?:[\"'”’)\]]*)(?=\s|$)|[。！？](?:[」』”’）]*)")
_TERMINAL = tuple('.!?…。！？」』"”’\')')
# Han, kana and hangul characters: a CJK line has few \w+ runs, so each such character counts as
# half a word (a Japanese or Chinese word is about two characters).
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_BULLET = re.compile(r"^(?:[*+•·▪►»>-]|#{1,6}|\d{1,2}[.)])\s")
_DIGIT = re.compile(r"\d")
_PUNCT = re.compile(r"[^\w\s]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_URL = re.compile(r"https?://|www\.\w", re.I)
# The lexicon patterns below are matched against the lower-cased line (much faster than re.I).
_CAPTION = re.compile(
    r"\b(?:photo|image|picture|video|credit|caption)s?(?:\s+credit)?\s*(?::|by\b)|getty images|shutterstock"
    r"|\bimage copyright\b|\(photo\b|©"
)
_BOILER = re.compile(
    r"\b(?:cookies?|javascript|subscribe|subscription|newsletter|advertisement|advertising|sponsored"
    r"|privacy policy|terms of (?:use|service)|all rights reserved|log ?in|sign ?up|click here"
    r"|read more|follow us|share this|related (?:stories|articles|posts)|recommended|trending"
    r"|most (?:read|popular)|copyright)\b"
)
# A date such as 22/7/2017, 2017-07-22, 22.07.2017, July 22, 2017 or 22 Jul 2017.
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            "january jan", "february feb", "march mar", "april apr", "may", "june jun",
            "july jul", "august aug", "september sep sept", "october oct", "november nov",
            "december dec",
        ]
    )
    for m in names.split()
}
_MONTH_RE = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = (
    ("ymd", re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")),
    ("dmy_num", re.compile(r"\b(\d{1,2})([/.])(\d{1,2})\2(\d{4})\b")),
    ("mdy_name", re.compile(r"\b(" + _MONTH_RE + r")\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I)),
    ("dmy_name", re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + _MONTH_RE + r"),?\s+(\d{4})\b", re.I)),
)
_ANY_DATE = re.compile("|".join(f"(?:{p.pattern})" for _, p in _DATE_PATTERNS).replace("\\2", "/"), re.I)
# "Name | date" (optionally with a time): the header of one reader comment.
_COMMENT_HEAD = re.compile(
    r"^[^|]{1,60}\|\s*(?:\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{4}-\d{2}-\d{2}|" + _MONTH_RE + r"\s+\d{1,2}"
    r"|\d+\s+(?:minutes?|hours?|days?|weeks?|months?|years?)\s+ago)",
    re.I,
)
# A photo credit or caption: "(Image: X)", "Photo by X", "Credit: X", "X/Agency/Getty Images", "via AP".
_CAPTION_LINE = re.compile(
    r"(?:^|[\s(|])(?:photo|image|picture|foto|credit)s?(?:\s+credit)?\s*(?::|by\b|courtesy\b)"
    r"|\bvia (?:getty|ap|reuters|afp)\b|getty images|shutterstock|\(ap photo"
)
_TIMER = re.compile(r"^\d+(?:[.,]\d+)?\s*(?:s|secs?|seconds?|ms)\.?$", re.I)
_BYLINE = re.compile(
    r"^(?:by|von|por|par|di|de)\s+(?P<name>[^\W\d_][\w.'’-]*(?:[ \t]+(?:[^\W\d_][\w.'’-]*|and|&))*?)"
    r"(?:\s*(?:[,|•·–—-]|\bon\b|\bupdated\b|\bpublished\b)?\s*(?P<rest>\d.*|" + _MONTH_RE + r".*))?$",
    re.I,
)
_ORG_WORD = re.compile(
    r"\b(?:news|press|agency|agencies|times|post|media|staff|desk|wire|service|network|tv|radio"
    r"|journal|herald|tribune|daily|gazette|report|magazine|online|editors?|team)\b",
    re.I,
)
_COPYRIGHT = re.compile(
    r"(?:©|\(c\)|copyright)\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)?\s*,?\s*(?P<name>[^\W\d_][\w&.' -]{1,60}?)"
    r"\s*(?:[.,|]|\ball rights\b|$)",
    re.I,
)

N_STATS = 24


def _line_stats(line: str, site_lines: frozenset[str]) -> list[float]:
    """Shape of one stripped, non-blank line: length, punctuation, function words, capitals."""
    return _shape(line, site_lines)[:N_STATS]


def _shape(line: str, site_lines: frozenset[str]) -> list[float]:
    """:func:`_line_stats` plus (text mode only) the log count of sentence ends."""
    low = line.lower()
    words = _WORD.findall(line)
    nw = len(words)
    if not line.isascii():
        cjk = len(_CJK.findall(line))
        if cjk:
            nw += cjk // 2
    nc = len(line)
    lw = max(nw, 1)
    last = line[-1]
    stop = sum(1 for w in _WORD.findall(low) if w in _STOP) if nw else 0
    caps = sum(1 for w in words if w[0].isupper())
    digits = len(_DIGIT.findall(line))
    punct = len(_PUNCT.findall(line))
    short = nw <= 30  # the costlier lexicon checks only matter for short lines
    sents = len(_SENT_END.findall(line))
    return [
        math.log1p(nc),
        math.log1p(nw),
        float(last in _TERMINAL),
        float(last == ":"),
        sents / lw,
        stop / lw,
        caps / lw,
        digits / nc,
        punct / nc,
        float(bool(_BULLET.match(line))),
        float("|" in line),
        float(bool(_COMMENT_HEAD.match(line))),
        float("@" in line and bool(_EMAIL.search(line))),
        float(bool(_URL.search(line))),
        float(line in site_lines),
        float(bool(_CAPTION.search(low))),
        0.0,  # repeated on the page: filled in by line_features, as it depends on the page
        float(nw <= 12 and digits >= 4 and bool(_ANY_DATE.search(line))),  # every date pattern has a year
        float(short and bool(_BOILER.search(low))),
        float(line.isupper()),
        (line.count(",") + line.count("、") + line.count("，")) / lw,
        float(line[0].isupper() or line[0] in "\"“‘'"),
        float(nw < 4),
        float(nw >= 25),
        # A long line full of sentences is prose whatever its last character (a whole body on one line).
        math.log1p(sents),
    ]


def line_features(lines: list[str], site_lines: frozenset[str] = frozenset(),
                  memo: dict[str, list[float]] | None = None) -> np.ndarray:
    """Stage-one features of the non-blank ``lines`` of a page (stats plus neighbours' stats).

    ``memo`` (line -> stats) saves recomputing lines across the passes over one page.
    """
    memo = {} if memo is None else memo
    for s in lines:
        if s not in memo:
            memo[s] = _shape(s, site_lines)
    shape = np.array([memo[s] for s in lines], dtype=np.float64).reshape(len(lines), N_STATS + 1)
    stats, sents = shape[:, :N_STATS], shape[:, N_STATS:]
    counts = Counter(lines)
    stats[:, 16] = [counts[s] > 1 for s in lines]
    n = len(lines)
    # Prose is what neighbours look like too: short terminal-less neighbours mean a menu.
    key = stats[:, [1, 2, 5, 9]]
    prev = np.vstack([np.zeros((1, 4)), key[:-1]]) if n else key
    nxt = np.vstack([key[1:], np.zeros((1, 4))]) if n else key
    prose = stats[:, 2] * np.minimum(stats[:, 1], 4.0)
    window = _moving_mean(prose, 3)
    pos = (np.arange(n) / max(n - 1, 1)).reshape(-1, 1)
    # A line cut off mid-word or mid-sentence by an ellipsis ("... Surface Go Kids Bundle plus JBL he...")
    # is a truncated teaser of another page, though its last character looks like a sentence end.
    cut = np.array([s.endswith(("...", "…")) and s.rstrip(".…")[-1:].isalnum() for s in lines], dtype=np.float64)
    return np.hstack([stats, prev, nxt, window.reshape(-1, 1), pos, cut.reshape(-1, 1), sents])


def _moving_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of ``x`` over a centred window of ``2k+1`` (shorter at the edges)."""
    if not len(x):
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(len(x))
    lo, hi = np.maximum(idx - k, 0), np.minimum(idx + k + 1, len(x))
    return (c[hi] - c[lo]) / (hi - lo)


def _region(z: np.ndarray, words: np.ndarray, barrier: np.ndarray) -> tuple[int, int]:
    """``[start, end)`` of the maximum-sum run of line scores, never crossing a barrier line."""
    gain = np.tanh(z / 2) * np.sqrt(words + 1.0)
    best, best_span, run, start = 0.0, (0, 0), 0.0, 0
    for i, g in enumerate(gain):
        if barrier[i]:
            run, start = 0.0, i + 1
            continue
        if run <= 0:
            run, start = 0.0, i
        run += g
        if run > best:
            best, best_span = run, (start, i + 1)
    if best_span == (0, 0) and len(z) and not barrier.all():
        # No line scores as body (a page of one short paragraph among long menus): the region is the
        # line whose neighbourhood scores highest, so stage two still has a body to anchor on.
        i = int(np.argmax(np.where(barrier, -np.inf, _moving_mean(z, 1))))
        best_span = (i, i + 1)
    return best_span


def stage_two_features(z: np.ndarray, x: np.ndarray, barrier: np.ndarray) -> np.ndarray:
    """Stage-two features: own and neighbours' stage-one scores and the distance to the main region."""
    n = len(z)
    if not n:
        return np.zeros((0, 9))
    words = np.expm1(x[:, 1])
    s, e = _region(z, words, barrier)
    idx = np.arange(n)
    inside = ((idx >= s) & (idx < e)).astype(float)
    before = np.log1p(np.maximum(s - idx, 0))
    after = np.log1p(np.maximum(idx - e + 1, 0))
    zp = np.concatenate([[-3.0], z[:-1]])
    zn = np.concatenate([z[1:], [-3.0]])
    return np.column_stack([z, zp, zn, _moving_mean(z, 3), inside, before, after, inside * x[:, 22], x[:, 22]])


# Logistic-regression weights fitted by bench/extraction.py --fit on extraction-dev
# (intercept last). Regenerate with that script after changing any feature. MD_*: the same two
# stages fitted on the html2text renderings only, used on markdown pages (see _is_markdown); that set
# leaves the truncated-teaser column out (weight 0, see MD_UNUSED in the bench). BLOCK_*: the
# block model of plain-text pages (see block_features and BLOCK_DROP); MD_BLOCK_*: markdown pages'. Column 14 (the line is one of
# ``site_lines``) is fitted on the lines extraction-dev's two-page sites repeat on both pages: such a
# line is dropped anyway, and its weight tells its neighbours (site-grouped 5-fold CV F1 with site
# lines, mean of 5 splits: inscriptis 0.9304 -> 0.9305, html2text 0.9113 -> 0.9150).
# BEGIN FITTED
W1 = np.array([1.03165, -1.1616, 0.103563, 0.151962, 0.039341, -0.200602, -0.426492, -0.016992, -0.315831, -0.333196, 0.051612, 0, -0.0597049, 0.215193, -1.27971, -0.398663, -0.375689, -0.126794, -0.614191, 0.0798153, 0.0639198, -0.495909, -0.401743, 0.0546775, 0.420314, -0.0574936, -0.183813, -0.333078, 0.385932, -0.149882, -0.194356, -0.264241, 1.8369, -0.213962, -0.219396, 0.310105, -3.44893])
W2 = np.array([0.382411, 0.050315, 0.017507, 0.288125, -0.183136, -0.771276, -0.646308, 0.523412, -0.784248, 1.25892])
MEAN1 = np.array([3.24653, 1.66607, 0.226834, 0.00636438, 0.0221145, 0.153741, 0.617104, 0.0228317, 0.0961445, 0.538871, 0.0110844, 0, 0.00103535, 0.00414142, 0.230549, 0.010384, 0.283839, 0.0096227, 0.0368769, 0.0425104, 0.0176637, 0.334937, 0.589878, 0.124973, 1.64852, 0.223119, 0.152211, 0.537745, 1.64915, 0.224306, 0.152275, 0.537379, 0.697531, 0.49997, 0.00353239, 0.232459])
SCALE1 = np.array([1.21715, 1.09657, 0.418784, 0.0795228, 0.0667327, 0.201019, 0.394411, 0.0851354, 0.150223, 0.498487, 0.104697, 1, 0.0321603, 0.0642204, 0.421184, 0.101371, 0.45086, 0.0976223, 0.188459, 0.201751, 0.0568365, 0.471968, 0.491856, 0.330689, 1.10097, 0.416337, 0.200818, 0.498573, 1.10065, 0.417125, 0.200923, 0.498601, 1.0952, 0.291171, 0.0593288, 0.468335])
MD_W1 = np.array([0.236717, 0.141535, 0.155386, 0.0985392, 0.00514008, 0.040584, -0.206921, -0.0266835, -0.0279435, -0.171045, 0.128299, 0, -0.0303198, 0.140999, -0.358034, -0.22897, -0.132532, -0.0492962, -0.232222, 0.0116864, 0.0474879, -0.24118, -0.174564, 0.0832865, 0.275175, 0.136345, 0.0140649, -0.264221, 0.273765, 0.0912096, 0.00833117, -0.219423, 0.591768, -0.205408, 0, 0.17336, -3.27828])
MD_W2 = np.array([0.46168, 0.121829, 0.111903, 0.215304, 0.212745, -0.376184, -0.460602, 0.0390336, -0.15329, 0.726271])
MD_MEAN1 = np.array([3.14491, 1.53679, 0.175998, 0.00650427, 0.0185274, 0.127796, 0.659547, 0.0229606, 0.106727, 0.668728, 0.017281, 0, 0.00102028, 0.00325214, 0.246907, 0.0105216, 0.312524, 0.00962887, 0.0392807, 0.048527, 0.0152095, 0.235429, 0.637738, 0.0923989, 1.52746, 0.174595, 0.127074, 0.667453, 1.52884, 0.175807, 0.127172, 0.666943, 0.521795, 0.5, 0, 0.177406])
MD_SCALE1 = np.array([1.11213, 1.01581, 0.380818, 0.0803864, 0.065866, 0.192244, 0.391268, 0.0863772, 0.135187, 0.47067, 0.130316, 1, 0.0319255, 0.0569347, 0.431212, 0.102034, 0.463522, 0.0976533, 0.194262, 0.214877, 0.0557989, 0.424267, 0.480654, 0.289588, 1.01959, 0.37962, 0.192106, 0.471126, 1.02064, 0.380656, 0.19218, 0.471307, 0.915724, 0.29038, 1, 0.416517])
BLOCK_MEAN = np.array([-1.19067, -3.60295, 2.63382, 0.0165915, 0.367335, 1.19876, 0.582019, 0.079302, 0.418438, 0.146383, 0.149251, 0.00454835])
BLOCK_SCALE = np.array([4.00393, 4.01099, 3.89818, 0.029302, 0.904004, 1.55583, 0.216499, 0.240404, 0.486717, 0.338986, 0.441509, 0.0361524])
BLOCK_W = np.array([2.72819, 0.545746, -0.85298, 0.0600009, -1.16701, -2.06303, -0.300219, -0.565917, 0.580608, 0.265151, 0.119962, 0.083879, -2.01037])
MD_BLOCK_MEAN = np.array([-2.02366, -3.75195, 1.58114, 0.0113356, 0.811548, 1.38157, 0.526159, 0.0443552, 0.2902, 0.401534, 0.05231, 0.00127012])
MD_BLOCK_SCALE = np.array([2.75974, 2.95454, 2.66859, 0.0209254, 1.34675, 1.71836, 0.220626, 0.16353, 0.451548, 0.488201, 0.1822, 0.0188916])
MD_BLOCK_W = np.array([1.4085, 1.48678, -0.72833, 0.110314, -1.70818, -1.973, 0.0656407, -0.0641635, 0.370604, 0.335004, 0.252945, -0.000851849, -3.11176])
TRIM_MEAN = np.array([4.76742, 3.08701, 0.756596, 0.00893617, 0.0565476, 0.29773, 0.227933, 0.0187694, 0.0468237, 0.0710638, 0.0365957, 0, 0.00170213, 0.0131915, 0, 0.00212766, 0, 0.00382979, 0.00638298, 0.02, 0.0449018, 0.798298, 0.0757447, 0.501277, 0.0729534, 0.873322, 0.0597302, 0.0593171, 2.7233, 2.7233, 0.5, 3.66792, 0.0391489, 0, 0.0523404, 0.0408511])
TRIM_SCALE = np.array([1.07324, 1.0149, 0.429137, 0.094108, 0.056969, 0.17314, 0.235804, 0.0443782, 0.0602376, 0.256931, 0.187767, 1, 0.0412217, 0.114094, 1, 0.0460775, 1, 0.0617667, 0.0796382, 0.14, 0.0588047, 0.401271, 0.264589, 0.499998, 0.192051, 0.33125, 0.10402, 0.108453, 1.23409, 1.23409, 0.30061, 0.933066, 0.0502703, 1, 0.222713, 0.197945])
TRIM_W = np.array([0.316328, 0.303369, -0.64086, -0.123685, -0.13426, -0.547245, 0.0835822, -0.176726, 0.214081, -0.136491, 0.225737, 0, 0.0633536, -0.223247, 0, 0.0234686, 0, 0.0453392, 0.172152, -0.0137565, -0.11017, 0.425466, -0.0973318, -0.181427, 0.666075, -0.429372, 0.138172, 0.0881541, -0.578478, -0.602286, 0.233422, -0.385521, -0.226336, 0, 0.00285251, -0.205598, -4.48516])
# END FITTED

# Block-model logit under which a block is dropped (markdown pages' block model uses it too). The block model is fitted on in-sample
# stage scores, which are surer than held-out ones, so the cut sits below 0 (site-grouped 5-fold CV F1
# on inscriptis, 3-split means: -1 0.9264, -0.5 0.9273, 0 0.9268; without the block model 0.9218).
BLOCK_DROP = -0.5


def _logit(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w[:-1] + w[-1]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True, slots=True)
class _Logistic:
    """A standardised logistic model (intercept last): HTML mode's edge trimmer, text mode's block model."""

    mean: np.ndarray
    scale: np.ndarray
    w: np.ndarray


@dataclass(frozen=True, slots=True)
class _Weights:
    """All fitted coefficients, so the benchmark can cross-validate without touching the module."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    w2: np.ndarray
    trim: _Logistic | None = None  # None: HTML mode keeps trafilatura's first and last paragraphs
    # Markdown pages (html2text-like renderings: # headings, **bold**, table rules) get their own
    # stage weights: the same line shapes mean different things there. None: one set for all pages.
    md: _Weights | None = None
    # The block model (see block_features; markdown pages use md's); None: lines are judged one by one only.
    block: _Logistic | None = None


def default_weights() -> _Weights:
    """The fitted weights pasted into this module."""
    md = _Weights(MD_MEAN1, MD_SCALE1, MD_W1, MD_W2, block=_Logistic(MD_BLOCK_MEAN, MD_BLOCK_SCALE, MD_BLOCK_W))
    block = _Logistic(BLOCK_MEAN, BLOCK_SCALE, BLOCK_W)
    return _Weights(MEAN1, SCALE1, W1, W2, _Logistic(TRIM_MEAN, TRIM_SCALE, TRIM_W), md, block)


def score_lines(lines: list[str], site_lines: frozenset[str], weights: _Weights,
                memo: dict[str, list[float]] | None = None) -> np.ndarray:
    """Keep-probability of each non-blank line of a page (scored with the markdown weights on a markdown page)."""
    if not lines:
        return np.zeros(0)
    return _sigmoid(_stages(lines, site_lines, weights, memo).z2)


@dataclass(frozen=True, slots=True)
class _Scores:
    """Both stages' line scores of one page, with what the block model reads."""

    z1: np.ndarray  # stage-one logits
    z2: np.ndarray  # stage-two logits (the keep decision)
    x: np.ndarray  # stage-one features
    inside: np.ndarray  # 1 for the lines of the densest prose region
    markdown: bool


def _stages(lines: list[str], site_lines: frozenset[str], weights: _Weights,
            memo: dict[str, list[float]] | None = None) -> _Scores:
    """Stage one and stage two over the non-blank ``lines`` (the markdown weights on a markdown page)."""
    markdown = weights.md is not None and _is_markdown(lines)
    if markdown:
        weights = weights.md
    x = line_features(lines, site_lines, memo)
    z = _logit((x - weights.mean) / weights.scale, weights.w1)
    f2 = stage_two_features(z, x, x[:, 11] > 0)
    return _Scores(z, _logit(f2, weights.w2), x, f2[:, 4], markdown)


def _block_mean(v: np.ndarray, block: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(block, weights=v, minlength=n) / np.maximum(np.bincount(block, minlength=n), 1)


def block_features(s: _Scores, gaps: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Page-relative features of each block (a run of lines between blank lines) and each line's block.

    Errors come in whole blocks whose lines agree (a related-stories box scored as prose, a teaser list
    after the body), so a block is judged against the rest of its page: its mean stage-one score
    minus the densest region's and the page median, its share of the page's words, how many blocks
    lie between it and the region, the page's kept share, and the block's shape (spread of line lengths
    and scores, sentence ends, bullets, "headline then sentence" pairs).
    """
    block = np.cumsum(np.asarray(gaps, dtype=np.int64)) - 1  # the first line always opens a block
    n = int(block[-1]) + 1
    x, z1 = s.x, s.z1
    words = np.expm1(x[:, 1])
    total = max(words.sum(), 1.0)
    block_words = np.bincount(block, weights=words, minlength=n)
    mean_z1 = _block_mean(z1, block, n)
    region = np.flatnonzero(s.inside > 0)
    first, last = (block[region[0]], block[region[-1]]) if len(region) else (0, 0)
    ref = z1[region].mean() if len(region) else z1.max()
    idx = np.arange(n)
    length = x[:, 0]
    spread = np.sqrt(np.maximum(_block_mean(length**2, block, n) - _block_mean(length, block, n) ** 2, 0))
    z_spread = np.sqrt(np.maximum(_block_mean(z1**2, block, n) - mean_z1**2, 0))
    # A short line without a sentence end followed, in the same block, by one with: headline + teaser.
    pair = np.zeros(len(z1))
    pair[:-1] = (x[:-1, 2] == 0) & (x[:-1, 1] < math.log1p(15)) & (x[1:, 2] == 1) & (block[:-1] == block[1:])
    feats = np.column_stack([
        mean_z1,
        mean_z1 - ref,
        mean_z1 - np.median(z1),
        block_words / total,
        np.log1p(np.maximum(first - idx, 0)),
        np.log1p(np.maximum(idx - last, 0)),
        np.full(n, (words * (s.z2 > 0)).sum() / total),
        spread,
        _block_mean(x[:, 2], block, n),
        _block_mean(x[:, 9], block, n),
        z_spread,
        _block_mean(pair, block, n),
    ])
    return feats, block


# A markdown heading, bold text or a table rule: no plain-text rendering or copy-paste has them.
_MARKDOWN = re.compile(r"^#{1,6}\s|\*\*\S|\S\*\*|^\|?\s*-{3,}\s*\|")


def _is_markdown(lines: list[str]) -> bool:
    """Whether a page's stripped lines are markdown (any line with markdown-only markup).

    Decided per cleaning pass from the pass's own input, so repeated passes still reach a fixed point.
    """
    return any(_MARKDOWN.search(s) for s in lines)


def _comment_lines(lines: list[str], gaps: list[bool]) -> np.ndarray:
    """Comment headers (``Name | date``) and the text under each, up to the next blank line or header.

    A short heading right above the first header, in the same block ("Comments", "3 replies"), goes too.
    """
    out = np.zeros(len(lines), dtype=bool)
    inside = False
    for i, line in enumerate(lines):
        if _COMMENT_HEAD.match(line):
            heading = lines[i - 1] if i and not gaps[i] else ""
            if not inside and heading and len(heading.split()) <= 3 and heading[-1] not in _TERMINAL:
                out[i - 1] = True
            out[i], inside = True, True
        elif inside and not gaps[i]:
            out[i] = True
        else:
            inside = False
    return out


def _is_junk(line: str) -> bool:
    """Lines that are never body text whatever the classifier says: timers, bare e-mail lines, captions."""
    if _TIMER.match(line):
        return True
    nw = len(_WORD.findall(line))
    if nw <= 40 and _CAPTION_LINE.search(line.lower()):
        return True
    return nw <= 8 and "@" in line and bool(_EMAIL.search(line))


def _split(page: str) -> tuple[list[str], list[bool]]:
    """Stripped non-blank lines and, for each, whether a blank line precedes it."""
    lines, gaps, gap = [], [], True
    for raw in page.splitlines():
        s = raw.strip()
        if not s:
            gap = True
            continue
        lines.append(s)
        gaps.append(gap)
        gap = False
    return lines, gaps


def _keep_mask(lines: list[str], gaps: list[bool], cfg: CleanConfig, site_lines: frozenset[str],
               weights: _Weights, memo: dict[str, list[float]] | None = None) -> np.ndarray:
    """Which lines are body: classifier score over threshold, minus comments, junk and repeats."""
    scores = _stages(lines, site_lines, weights, memo)
    comments = _comment_lines(lines, gaps)
    keep = (_sigmoid(scores.z2) > cfg.keep_threshold) & ~comments
    b = weights.md.block if scores.markdown else weights.block
    if lines and b is not None:
        # Drop whole blocks the block model judges junk for this page (markdown pages have their own model).
        feats, block = block_features(scores, gaps)
        keep &= (_logit((feats - b.mean) / b.scale, b.w) >= BLOCK_DROP)[block]
    keep |= _introduced_lists(lines, keep) & ~comments
    _follow_first_items(lines, gaps, keep, comments)
    # Lines no rule may bring back: comments and the site's repeated lines.
    never = (comments | np.array([s in site_lines for s in lines], dtype=bool)) if site_lines else comments
    keep &= ~never
    _drop_leading_headings(lines, keep)
    seen: set[str] = set()
    for i, line in enumerate(lines):
        # A repeated line (a caption printed twice, a pull quote) adds no text the first did not.
        if keep[i] and (line in seen or _is_junk(line)):
            keep[i] = False
        seen.add(line)
    _table_fallback(lines, gaps, keep, never, np.expm1(scores.x[:, 1]))
    return keep


def _introduced_lists(lines: list[str], keep: np.ndarray) -> np.ndarray:
    """The bulleted lines right after a kept line that ends in a colon ("It offers:"): the body's own list.

    Bullets score like menus line by line, but a body sentence that announces a list vouches for it
    (on extraction-dev every such run is body; related-link lists follow headings, not sentences).
    """
    out = np.zeros(len(lines), dtype=bool)
    i = 0
    while i < len(lines) - 1:
        if keep[i] and lines[i].endswith(":") and _BULLET.match(lines[i + 1]):
            i += 1
            while i < len(lines) and _BULLET.match(lines[i]):
                out[i] = True
                i += 1
        else:
            i += 1
    return out


# "1. ", "2) ", also as a markdown heading or in bold: an item of a numbered list.
_NUMBERED = re.compile(r"^(?:#{1,6}\s*)?\**(\d{1,3})[.)]\s")


def _follow_first_items(lines: list[str], gaps: list[bool], keep: np.ndarray, comments: np.ndarray,
                        max_gap: int = 8) -> None:
    """Give each numbered list (items 1, 2, 3, ... in order) its first item's decision, in place.

    Line by line the items of a top-ten list fade out of the body as they get further from its prose,
    and a numbered box of most-read stories creeps in next to it; a list is one thing, and its first
    item is the one nearest what introduced it (on extraction-dev a list whose first item is kept is
    body, one whose first item is dropped is not). Items may be up to ``max_gap`` lines apart; the list
    runs from its first item to the end of the last item's block, so the lines under each item go with it.
    """
    items: list[int] = []
    numbered = [(i, int(m.group(1))) for i, s in enumerate(lines) if (m := _NUMBERED.match(s))]
    for i, n in numbered + [(len(lines) + max_gap, 0)]:
        if items and n == len(items) + 1 and i - items[-1] <= max_gap:
            items.append(i)
            continue
        if len(items) >= 3:
            end = items[-1] + 1
            while end < len(lines) and not gaps[end]:
                end += 1
            keep[items[0]:end] = keep[items[0]] & ~comments[items[0]:end]
        items = [i] if n == 1 else []


def _row_shape(line: str, tokens: int = 3) -> str:
    """The token pattern of a line's first ``tokens`` tokens: digits as 9, runs of words as a, others as is."""
    out: list[str] = []
    for tok in line.split():
        if _DIGIT.search(tok):
            c = "9"
        elif tok[0].isalpha() or tok[-1].isalpha():
            c = "a" + (tok[-1] if tok[-1] in ":," else "")
            if out and out[-1] == c:
                continue
        else:
            c = tok
        out.append(c)
        if len(out) == tokens:
            break
    return " ".join(out)


def _table_fallback(lines: list[str], gaps: list[bool], keep: np.ndarray, never: np.ndarray,
                    words: np.ndarray, min_words: float = 40.0, min_rows: int = 4) -> None:
    """On a page where almost nothing is kept, keep its longest table, in place.

    A results table or a calendar as the whole body has no prose for the classifier to find, and its
    rows score like a menu. Rows differ from menu items in that they start alike with a number in the
    same place ("3a etapa: 22 de abril", "12 | Name | 2257 | ..."), where menu items start with a bullet
    and a word. The table is the longest run of at least ``min_rows`` such lines, with the rest of the
    blocks it starts and ends in (less the ``never`` lines: comments, site lines). On extraction-dev only
    two pages keep under ``min_words``, and both are such tables.
    """
    if not len(lines) or (words * keep).sum() >= min_words:
        return
    shapes = [_row_shape(s) for s in lines]
    best, span, i = 0, (0, 0), 0
    while i < len(lines):
        j = i + 1
        while j < len(lines) and shapes[j] == shapes[i]:
            j += 1
        if j - i > best and "9" in shapes[i] and not _BULLET.match(lines[i]):
            best, span = j - i, (i, j)
        i = j
    if best < min_rows:
        return
    start, end = span
    while start > 0 and not gaps[start]:
        start -= 1
    while end < len(lines) and not gaps[end]:
        end += 1
    keep[start:end] |= ~never[start:end]


def _drop_leading_headings(lines: list[str], keep: np.ndarray) -> None:
    """Unkeep the headline-like lines at the top of the body: a title is metadata, not body."""
    for i in np.flatnonzero(keep):
        if not _headline_like(lines[i]):
            return
        keep[i] = False


def _clean_once(page: str, cfg: CleanConfig, site_lines: frozenset[str], weights: _Weights,
                memo: dict[str, list[float]]) -> str:
    lines, gaps = _split(page)
    keep = _keep_mask(lines, gaps, cfg, site_lines, weights, memo)
    return "\n\n".join(s for s, k in zip(lines, keep) if k)


def body_text(page: str, cfg: CleanConfig, site_lines: frozenset[str] = frozenset(),
              weights: _Weights | None = None, memo: dict[str, list[float]] | None = None,
              max_passes: int = 50) -> str:
    """The body of whole-page text, cleaned until a further pass changes nothing (so it is idempotent)."""
    weights = weights or default_weights()
    memo = {} if memo is None else memo
    text = _clean_once(page, cfg, site_lines, weights, memo)
    # Each pass that changes the text drops at least one line, so this ends well before the cap.
    for _ in range(max_passes - 1):
        again = _clean_once(text, cfg, site_lines, weights, memo)
        if again == text:
            break
        text = again
    return text


# --------------------------------------------------------------------------------------------
# Metadata from text.


def parse_date(s: str) -> str | None:
    """The first date in ``s`` as ISO ``yyyy-mm-dd``, or None.

    Numeric dates are read day-first unless that is impossible (``3/21/2019`` is month-first).

    Example:
        >>> parse_date("By Staff 22/7/2017"), parse_date("Nov. 18, 2019 11:03 PM")
        ('2017-07-22', '2019-11-18')
    """
    best: tuple[int, str] | None = None
    for kind, pat in _DATE_PATTERNS:
        m = pat.search(s)
        if m:
            iso = _iso(kind, m.groups())
            if iso and (best is None or m.start() < best[0]):
                best = (m.start(), iso)
    return best[1] if best else None


_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")


def normalise_date(value: str | None) -> str | None:
    """A date given in metadata, in any common format, as ISO (``yyyy-mm-dd``, time kept if ISO).

    Example:
        >>> [normalise_date(v) for v in ("2017-07-22T10:00:00Z", "22/7/2017", "July 22, 2017", "soon")]
        ['2017-07-22T10:00:00Z', '2017-07-22', '2017-07-22', None]
    """
    value = (value or "").strip()
    if not value:
        return None
    if _ISO_START.match(value):
        return value
    parsed = parse_date(value)
    if parsed:
        return parsed
    try:  # RFC 2822 and other spelled-out forms; dateutil comes with trafilatura's htmldate
        from dateutil import parser as du

        return du.parse(value, fuzzy=False).date().isoformat()
    except (ValueError, OverflowError, TypeError):
        return None


def _iso(kind: str, g: tuple[str, ...]) -> str | None:
    if kind == "ymd":
        y, mo, d = int(g[0]), int(g[1]), int(g[2])
    elif kind == "dmy_num":
        d, mo, y = int(g[0]), int(g[2]), int(g[3])
        if mo > 12 >= d:
            d, mo = mo, d
    elif kind == "mdy_name":
        mo, d, y = _MONTHS[g[0].lower().rstrip(".")], int(g[1]), int(g[2])
    else:
        d, mo, y = int(g[0]), _MONTHS[g[1].lower().rstrip(".")], int(g[2])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and 1900 <= y <= 2100):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def _byline(line: str) -> tuple[str, str | None] | None:
    """``(name, iso_date)`` of a "By Name [date]" line, or None."""
    if len(line) > 120:
        return None
    m = _BYLINE.match(line)
    if not m:
        return None
    name = m.group("name").strip(" ,|-")
    if not name or len(name.split()) > 8:
        return None
    return name, parse_date(m.group("rest") or "")


# "By Harbor Wire Staff" names the outlet "Harbor Wire".
_STAFF = re.compile(r"\s+(?:staff(?:\s+(?:reporters?|writers?))?|reporters?|newsroom|desk)$", re.IGNORECASE)


def _is_org(name: str) -> bool:
    """A byline that names an organisation rather than a person: one word, or an outlet-like word."""
    return len(name.split()) == 1 or bool(_ORG_WORD.search(name))


def _headline_like(line: str) -> bool:
    words = line.split()
    if not 3 <= len(words) <= 30 or len(line) > 250:
        return False
    if line[-1] in ".,;" or _COMMENT_HEAD.match(line) or _CAPTION.search(line.lower()) or _BULLET.match(line):
        return False
    if len(words) <= 6 and parse_date(line):  # a dateline ("March 3, 2025") is not a headline
        return False
    return not _byline(line) and (line[0].isupper() or line[0].isdigit() or line[0] in "\"“‘'")


def _metadata(lines: list[str], first_body: int, site_lines: frozenset[str]) -> tuple:
    """Title, byline, date and outlet from the lines before (and at the top of) the body."""
    head = [s for s in lines[max(0, first_body - 12) : first_body] if s not in site_lines]
    title = next((s for s in reversed(head) if _headline_like(s)), None)
    byline = published = outlet = None
    for s in lines[max(0, first_body - 12) : first_body + 3]:
        b = _byline(s)
        if b and byline is None:
            byline, published = b[0], b[1] or published
            outlet = _STAFF.sub("", b[0]) if _is_org(b[0]) else None
        elif published is None and len(s) <= 80 and _ANY_DATE.search(s):
            published = parse_date(s)
    return title, byline, published, outlet or _copyright_outlet(lines)


def _copyright_outlet(lines: list[str]) -> str | None:
    """The holder named by a copyright line, if the page has one."""
    for s in reversed(lines):
        if len(s) <= 120 and ("©" in s or "copyright" in s.lower()):
            m = _COPYRIGHT.search(s)
            if m and m.group("name").strip():
                return m.group("name").strip(" .,")
    return None


def clean_text(page: str, cfg: CleanConfig, site_lines: frozenset[str] = frozenset()) -> Cleaned:
    """Recover the article body and metadata from whole-page text.

    Args:
        page: text of a web page, article lines mixed with menus, comments and links.
        cfg: thresholds; ``keep_threshold`` is the classifier score a line needs.
        site_lines: lines repeated across other pages of the same outlet (boilerplate).

    Returns:
        The body (kept lines joined by blank lines) with title, byline, date and outlet when
        the page states them.

    Example:
        >>> clean_text("Menu\\nHome\\n\\nA short page.", CleanConfig()).title is None
        True
    """
    return _clean_text(page, cfg, site_lines, default_weights())


def _clean_text(page: str, cfg: CleanConfig, site_lines: frozenset[str], weights: _Weights) -> Cleaned:
    """:func:`clean_text` with given weights (the benchmark passes cross-validated ones)."""
    memo: dict[str, list[float]] = {}
    lines, gaps = _split(page)
    keep = _keep_mask(lines, gaps, cfg, site_lines, weights, memo)
    first = int(np.argmax(keep)) if keep.any() else len(lines)
    title, byline, published, outlet = _metadata(lines, first, site_lines)
    text = body_text("\n\n".join(s for s, k in zip(lines, keep) if k), cfg, site_lines, weights, memo)
    return Cleaned(title=title, byline=byline, published=published, outlet=outlet, text=text)


# --------------------------------------------------------------------------------------------
# HTML mode.

# Below this many characters trafilatura's body is treated as a miss and text mode is tried.
HTML_MIN_CHARS = 200


def render_html(html: str) -> str:
    """Neutral whole-page text of ``html`` (inscriptis when installed, else trafilatura's baseline)."""
    try:
        from inscriptis import get_text
    except ImportError:  # inscriptis is an optional extra; trafilatura's html2txt is always there
        from trafilatura import html2txt

        return html2txt(html) or ""
    return get_text(html)


def _paragraphs(text: str) -> str:
    """Non-blank lines of ``text``, stripped, joined by blank lines."""
    return "\n\n".join(s for s in (line.strip() for line in text.splitlines()) if s)


def _trafilatura(html: str, cfg: CleanConfig, url: str | None):
    """trafilatura's Document for ``html`` (no network: it only parses the string given)."""
    import trafilatura

    return trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        favor_recall=cfg.html_favor_recall,
        favor_precision=not cfg.html_favor_recall,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
    )


def clean_html(html: str, cfg: CleanConfig, url: str | None = None) -> Cleaned:
    """Recover the article body and metadata from an HTML page.

    trafilatura (precision mode by default) gives the body and metadata (the date via its
    htmldate); text mode on the page rendered to text is a second opinion. When trafilatura finds
    less than ``HTML_MIN_CHARS``, or only a part of what text mode finds (text mode covers it and
    is ``RESCUE_RATIO`` times longer), text mode's body is used, with any trafilatura paragraph it
    lacks appended. Leading and trailing paragraphs the edge trimmer scores as not body (over
    ``TRIM_THRESHOLD``) are cut; at least one paragraph always stays.

    Example:
        >>> clean_html("<html><body><p>Hi.</p></body></html>", CleanConfig()).text
        'Hi.'
    """
    return _clean_html(html, cfg, url, default_weights())


# Text mode replaces trafilatura's body when it is this many times longer and covers it (share of
# trafilatura's words in text mode's shingles at least RESCUE_COVER): trafilatura then stopped early.
RESCUE_RATIO = 2.0
RESCUE_COVER = 0.9
# A first paragraph whose words overlap the title's this much (Jaccard) is the headline again.
TITLE_OVERLAP = 0.6


_NO_DOC = object()


def _clean_html(html: str, cfg: CleanConfig, url: str | None, weights: _Weights,
                drop_title: bool = False, doc: object = _NO_DOC, rendered: str | None = None) -> Cleaned:
    """:func:`clean_html` with given weights (the benchmark passes cross-validated ones).

    ``drop_title`` removes a first paragraph that repeats the title (+0.002 F1 on extraction-dev
    before edge trimming, +0.0000 after it, as the trimmer cuts such paragraphs itself).
    ``doc`` (trafilatura's result) and ``rendered`` (:func:`render_html`'s) may be given when
    already computed; the benchmark reuses them across folds.
    """
    paras, meta, text_mode = _html_paragraphs(html, cfg, url, weights, drop_title, doc, rendered)
    if weights.trim is not None and len(paras) > 1:
        paras = _trim_edges(paras, _trim_scores(paras, html, meta.get("title"), text_mode, weights.trim))
    date = meta.get("date")
    return Cleaned(
        title=meta.get("title") or None,
        byline=meta.get("author") or None,
        published=parse_date(date) if date else None,
        outlet=meta.get("sitename") or None,
        text="\n\n".join(paras),
    )


def _html_paragraphs(html: str, cfg: CleanConfig, url: str | None, weights: _Weights, drop_title: bool = False,
                     doc: object = _NO_DOC, rendered: str | None = None) -> tuple[list[str], dict, str]:
    """HTML mode's body paragraphs before edge trimming, the metadata, and text mode's body."""
    if doc is _NO_DOC:
        doc = _trafilatura(html, cfg, url) if html.strip() else None
    meta = {k: getattr(doc, k, None) for k in ("title", "author", "date", "sitename")} if doc else {}
    paras = [s.strip() for s in (doc.text or "").splitlines() if s.strip()] if doc else []
    if drop_title:
        paras = _drop_title(paras, meta.get("title"))
    fallback = None
    if html.strip():
        fallback = _clean_text(render_html(html) if rendered is None else rendered, cfg, frozenset(), weights)
    if fallback is not None and _text_mode_wins(paras, fallback.text.split("\n\n") if fallback.text else []):
        ref = _ShingleRef(fallback.text)
        paras = [s for s in fallback.text.split("\n\n") if s] + [s for s in paras if ref.support(s) < 0.5]
        meta = {"title": meta.get("title") or fallback.title, "author": meta.get("author") or fallback.byline,
                "date": meta.get("date") or fallback.published, "sitename": meta.get("sitename") or fallback.outlet}
    return paras, meta, fallback.text if fallback is not None else ""


# --------------------------------------------------------------------------------------------
# HTML mode's edge trimming: trafilatura's body often starts with the headline or a teaser and
# ends with a newsletter box, a related-links list or a reporting credit. A logistic model scores
# each paragraph's odds of not being article body; the leading and trailing paragraphs it flags
# are cut (never the middle ones, never all). Fitted by bench/extraction.py --fit.

# Site-grouped 5-fold CV on extraction-dev: 0.9666 -> 0.9704 (perfect edge trimming: 0.984).
# Not shipped, CV F1: interaction/neighbour features 0.9714 (noise), a GBDT trimmer 0.968,
# training on edge paragraphs only 0.970, cutting middle paragraphs scored over 0.9 0.970, a topic-
# overlap feature 0.969, re-adding text-mode paragraphs trafilatura dropped mid-body 0.961.
TRIM_THRESHOLD = 0.5


def _page_anchors(html: str) -> tuple[list[str], str]:
    """The page's link texts (longest first) and its first ``<h1>``'s text."""
    from lxml import html as lhtml

    try:
        root = lhtml.fromstring(html)
    except (ValueError, TypeError, SyntaxError):  # lxml's parser errors subclass SyntaxError
        return [], ""
    links = {" ".join(a.text_content().split()) for a in root.iter("a")}
    h1 = next((" ".join(h.text_content().split()) for h in root.iter("h1")), "")
    return sorted((t for t in links if len(t) >= 3), key=len, reverse=True), h1


def _jaccard(a: str, b: str | None) -> float:
    x = {w.lower() for w in _WORD.findall(a)}
    y = {w.lower() for w in _WORD.findall(b or "")}
    return len(x & y) / max(len(x | y), 1)


def paragraph_features(paras: list[str], links: list[str], title: str | None, h1: str,
                       text_mode: str) -> np.ndarray:
    """Edge-trimming features of HTML mode's paragraphs.

    A paragraph's line shape (:func:`_line_stats`), the share of it that is link text, how much
    of it text mode keeps, its overlap with the title and the ``<h1>``, and where it sits.
    """
    n = len(paras)
    ref = _ShingleRef(text_mode)
    words = [len(_WORD.findall(s)) for s in paras]
    total = max(sum(words), 1)
    rows = []
    for k, s in enumerate(paras):
        linked = sum(len(a) for a in links if len(a) <= len(s) and a in s)
        rows.append(_line_stats(s, frozenset()) + [
            min(linked / len(s), 1.0),
            ref.support(s),
            _jaccard(s, title),
            _jaccard(s, h1),
            math.log1p(k),
            math.log1p(n - 1 - k),
            k / max(n - 1, 1),
            math.log1p(n),
            words[k] / total,
            float(_byline(s) is not None),
            float(s.startswith("- ")),
            float(s.endswith(("]", "|"))),
        ])
    return np.array(rows, dtype=np.float64).reshape(n, N_STATS + 12)


def _trim_scores(paras: list[str], html: str, title: str | None, text_mode: str, t: _Logistic) -> np.ndarray:
    """Probability that each paragraph is not article body."""
    links, h1 = _page_anchors(html)
    x = paragraph_features(paras, links, title, h1, text_mode)
    return _sigmoid(_logit((x - t.mean) / t.scale, t.w))


def _trim_edges(paras: list[str], junk: np.ndarray, threshold: float = TRIM_THRESHOLD) -> list[str]:
    """``paras`` without the leading and trailing run of paragraphs scored over ``threshold`` (one stays)."""
    a, b = 0, len(paras)
    while a < b - 1 and junk[a] > threshold:
        a += 1
    while b > a + 1 and junk[b - 1] > threshold:
        b -= 1
    return paras[a:b]


def _text_mode_wins(traf: list[str], text_mode: list[str]) -> bool:
    """Whether text mode's body should replace trafilatura's (trafilatura found little or a part)."""
    n_traf = sum(len(s) for s in traf)
    n_text = sum(len(s) for s in text_mode)
    if n_traf < HTML_MIN_CHARS:
        return n_text > n_traf
    if n_text < RESCUE_RATIO * n_traf:
        return False
    ref = _ShingleRef("\n".join(text_mode))
    words = [len(_WORD.findall(s)) for s in traf]
    covered = sum(w * ref.support(s) for w, s in zip(words, traf))
    return covered >= RESCUE_COVER * max(sum(words), 1)


class _ShingleRef:
    """The lower-cased 4-word shingles of a text, to ask how much of a paragraph it contains."""

    def __init__(self, text: str) -> None:
        toks = [w.lower() for w in _WORD.findall(text)]
        self.shingles = {tuple(toks[i : i + 4]) for i in range(len(toks) - 3)}
        self.joined = " " + " ".join(toks) + " "

    def support(self, para: str) -> float:
        """Share of ``para``'s shingles found here (for a paragraph under 4 words: found whole or not)."""
        toks = [w.lower() for w in _WORD.findall(para)]
        if len(toks) >= 4:
            sh = [tuple(toks[i : i + 4]) for i in range(len(toks) - 3)]
            return sum(s in self.shingles for s in sh) / len(sh)
        return float(bool(toks) and f" {' '.join(toks)} " in self.joined)


def _drop_title(paras: list[str], title: str | None) -> list[str]:
    """``paras`` without a short first paragraph that repeats the title."""
    if len(paras) < 2 or not title or len(paras[0].split()) > 30:
        return paras
    a = {w.lower() for w in _WORD.findall(paras[0])}
    b = {w.lower() for w in _WORD.findall(title)}
    overlap = len(a & b) / max(len(a | b), 1)
    return paras[1:] if overlap >= TITLE_OVERLAP else paras


_BLANK_RUN = re.compile(r"\n{3,}")


def clean_jsonl(content: str) -> str:
    """An already-extracted body, lightly normalised: stripped lines, runs of blank lines collapsed."""
    if "\r" in content:
        content = content.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join([line.strip() for line in content.split("\n")])
    return (_BLANK_RUN.sub("\n\n", text) if "\n\n\n" in text else text).strip()  # most bodies have no run


# --------------------------------------------------------------------------------------------
# Boilerplate lines shared by pages of one outlet.


def site_boilerplate_lines(pages: list[tuple[str, str]], min_pages: int = 3) -> dict[str, frozenset[str]]:
    """Lines that occur on at least ``min_pages`` distinct pages of the same outlet.

    Args:
        pages: ``(outlet, content)`` of each page.
        min_pages: how many distinct pages a line must be on to count as boilerplate.

    Example:
        >>> site_boilerplate_lines([("x", "Menu\\nA"), ("x", "Menu\\nB"), ("x", "Menu")])
        {'x': frozenset({'Menu'})}
    """
    counts = _line_counts(pages)
    return {o: frozenset(s for s, n in c.items() if n >= min_pages) for o, c in sorted(counts.items())}


def chunk_site_lines(pages: pa.Table, min_pages: int) -> dict[str, tuple[str, ...]]:
    """Per outlet, the lines its page-text pages (``source_kind`` text) among ``pages`` share:
    on ``min_pages`` or more of them and on no other outlet's page, since a line two outlets
    print is reprint evidence, never boilerplate. For :class:`Clean`'s ``site_lines``."""
    if min_pages <= 0 or not pages.num_rows:
        return {}
    # Only page-text rows become Python strings: a chunk of HTML or JSONL costs one filter.
    text = pages.filter(pc.equal(pages["source_kind"], "text"))
    rows = text.select(["content", "outlet", "url", "path"]).to_pylist()
    counts = _line_counts([(r["outlet"] or _fallback_outlet(r["url"], r["path"]), r["content"] or "")
                           for r in rows])
    printers = Counter(line for c in counts.values() for line in c)  # outlets printing each line
    out = {o: tuple(sorted(s for s, n in c.items() if n >= min_pages and printers[s] == 1))
           for o, c in sorted(counts.items())}
    return {o: lines for o, lines in out.items() if lines}


def _line_counts(pages: list[tuple[str, str]]) -> dict[str, Counter[str]]:
    """Per outlet, on how many of its pages each (stripped, non-blank) line occurs."""
    counts: dict[str, Counter[str]] = {}
    for outlet, content in pages:
        counts.setdefault(outlet, Counter()).update({s for s in (ln.strip() for ln in content.splitlines()) if s})
    return counts


# --------------------------------------------------------------------------------------------
# The step.

# A page whose share of control or replacement characters is above this is binary, not text.
MAX_BINARY_SHARE = 0.05


# Replacement characters and control characters (category Cc: U+0000-U+001F, U+007F-U+009F, a set
# Unicode keeps fixed) other than \t \n \f \r. One regex scan, not a Python call per character.
_BINARY_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")


def is_binary(content: str) -> bool:
    """Whether ``content`` looks like decoded binary data rather than text."""
    sample = content[:20000]
    if not sample or not _BINARY_CHAR.search(sample):
        return False
    return len(_BINARY_CHAR.findall(sample)) / len(sample) > MAX_BINARY_SHARE


def _fallback_outlet(url: str | None, path: str | None) -> str:
    """Host of ``url`` without ``www.``, else the file stem of ``path``."""
    host = urlsplit(url).hostname if url else None
    if host:
        return host.removeprefix("www.")
    return PurePath(path or "unknown").name.split(".")[0] or "unknown"


@dataclass
class Clean:
    """Map step: PAGE rows to ARTICLE rows; a page without a body gets a ``_reject`` reason."""

    config: CleanConfig = field(default_factory=CleanConfig)
    site_lines: dict[str, tuple[str, ...]] | None = None  # outlet -> boilerplate lines

    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = (
        "page_id", "path", "record", "source_kind", "content", "url", "title", "outlet", "published", "extras",
    )
    output_schema: ClassVar[pa.Schema] = with_reject(model.ARTICLE)

    def __call__(self, batch: pa.Table) -> pa.Table:
        check_reads(self, batch)
        # Column by column both ways: cheaper than Arrow's row dicts (to_pylist, from_pylist).
        cols = batch.select(list(self.reads)).to_pydict()
        # One alarm handler for the batch, each page only arms the timer (a handler per page cost
        # a tenth of cleaning a JSONL record).
        with record_limits(self.config.timeout_s) as limited:
            rows = [self._row(dict(zip(self.reads, r)), limited) for r in zip(*cols.values())]
        return pa.Table.from_arrays([pa.array([r[f.name] for r in rows], type=f.type) for f in self.output_schema],
                                    schema=self.output_schema)

    def _row(self, page: dict, limited: Callable[..., tuple[Any, str | None]]) -> dict:
        """One ARTICLE row (with ``_reject``) from one PAGE row, cleaned under ``limited``
        (:func:`~storyline.steps.base.record_limits`); never raises."""
        content = page["content"] or ""
        done, failed = limited(self._clean, page, content)
        if failed:  # "timeout: > Ns", or "error: Type" when cleaning raised: a bad page must not kill the batch
            reason = "clean_" + failed if failed.startswith("error: ") else failed
            cleaned, raw = Cleaned(None, None, None, None, ""), content
        else:
            cleaned, raw, reason = done
        outlet = page["outlet"] or cleaned.outlet or _fallback_outlet(page["url"], page["path"])
        return {
            "article_id": page["page_id"],
            "path": page["path"],
            "record": page["record"],
            "url": page["url"],
            "outlet": outlet,
            "published": normalise_date(page["published"]) or cleaned.published,
            "title": page["title"] or cleaned.title or "",
            "byline": cleaned.byline,
            "text": "" if reason else cleaned.text,
            "raw_text": raw,
            "source_kind": page["source_kind"],
            "lang": "en",
            "extras": _extras(page["extras"]),
            REJECT_COLUMN: reason,
        }

    def _clean(self, page: dict, content: str) -> tuple[Cleaned, str, str | None]:
        """Cleaned, raw page text and reject reason (None when kept)."""
        if is_binary(content):
            return Cleaned(None, None, None, None, ""), "", "binary"
        kind = page["source_kind"]
        if kind in ("html", "warc"):
            cleaned, raw = clean_html(content, self.config, page["url"]), render_html(content)
        elif kind == "jsonl":
            cleaned, raw = Cleaned(None, None, None, None, clean_jsonl(content)), content
        else:
            outlet = page["outlet"] or _fallback_outlet(page["url"], page["path"])
            lines = frozenset((self.site_lines or {}).get(outlet, ()))
            cleaned, raw = clean_text(content, self.config, lines), content
        too_short = len(cleaned.text) < self.config.min_body_chars
        return cleaned, raw, "no_article" if too_short else None


def _extras(value: object) -> dict[str, str]:
    """A map column read back from Arrow (a list of pairs) as a dict."""
    if not value:
        return {}
    return dict(value) if not isinstance(value, dict) else value
