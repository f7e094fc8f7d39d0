"""Keyword retrieval over the template library: BM25 ranking plus a calibrated confidence.

`search(prompt)` scores every template with BM25 (Robertson/Sparck Jones, k1=1.2, b=0.75) over
its title (x3), keywords (x2) and description, and ranks by confidence (below) plus a small
share of the normalised BM25 score, after light normalisation: lower case, camelCase
and punctuation splits, a stop list of filler words ("make", "script", "please", ...), crude
suffix stemming and a few Roblox synonyms (die/death -> kill, teleporter -> teleport, ...).

The confidence is not the BM25 score (which has no fixed scale) but the larger of two shares:
- request coverage: how much of the request the template explains, the IDF-weighted share of
  the request's content words that occur in the template, where words the library has never
  seen weigh as much as the rarest known word. Short requests ("make a kill brick") score high.
- concept coverage: how much of the template's concept the request names, half from its title
  (IDF-weighted share of the title words found) and half from its other keywords (found ones,
  saturating at CONCEPT_KEYWORDS). Long, specific requests that spell out behaviour ("Make the
  selected part a kill brick: any player whose character touches it dies") score high here
  although most of their words are not the template's.
A request about something no template covers ("a sorting algorithm for a bank database") has
mostly unseen words, names no template's title and scores near 0 on both. Templates are ranked by
confidence plus request coverage (so the template that explains more of a long request wins over
a generic one that it merely mentions, e.g. leaderstats inside a DataStore request) plus a small
share of BM25. The threshold was chosen on the `examples` listed in each template (all rank their
template first with confidence >= CONFIDENCE_THRESHOLD), on off-topic requests (all below it)
and on long requests; tests/templates checks all three.

Does not handle: synonyms beyond the small table, languages other than English, typos.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass

from datashark.roblox.templates.templates import Template, load_templates

CONFIDENCE_THRESHOLD = 0.5
K1, B = 1.2, 0.75
RANK_BM25_WEIGHT = 0.15
FIELD_WEIGHTS = {"title": 3, "keywords": 2, "description": 1}
CONCEPT_KEYWORDS = 4  # keywords (besides the title's words) a request names for full credit

STOPWORDS = frozenset(
    """a an the and or but if then so to of in on at by for with from into onto over under up
    down out off it its it's is are was were be been being this that these those there here
    when where while what which who whom how why i me my we our you your he she they them their
    his her can could should would will shall may might must do does did done make makes made
    making create creates creating add adding write writing want wants need needs please script
    scripts code roblox studio game games something some thing things like just also very really
    get gets let lets have has had one each every any all no not than too only same other
    another new use using used way able show tell give me help simple basic system someone
    custom""".split()
)
SYNONYMS = {
    "die": "kill",
    "dies": "kill",
    "death": "kill",
    "dead": "kill",
    "deadly": "kill",
    "killing": "kill",
    "kills": "kill",
    "killed": "kill",
    "teleporter": "teleport",
    "teleports": "teleport",
    "teleporting": "teleport",
    "portal": "teleport",
    "warp": "teleport",
    "coins": "coin",
    "money": "coin",
    "cash": "coin",
    "gem": "coin",
    "gems": "coin",
    "leaderboard": "leaderstats",
    "hp": "health",
    "hurt": "damage",
    "hurts": "damage",
    "damages": "damage",
    "running": "run",
    "runs": "run",
    "faster": "fast",
    "rotate": "spin",
    "rotating": "spin",
    "rotates": "spin",
    "spinning": "spin",
    "spins": "spin",
    "ui": "gui",
    "menu": "gui",
    "screen": "gui",
    "sound": "music",
    "song": "music",
    "songs": "music",
    "audio": "music",
    "datastore": "datastore",
    "saving": "save",
    "saves": "save",
    "loads": "load",
    "loading": "load",
    "jumping": "jump",
    "jumps": "jump",
    "respawning": "respawn",
    "respawns": "respawn",
    "checkpoints": "checkpoint",
    "doors": "door",
    "opens": "open",
    "opening": "open",
    "platforms": "platform",
    "obstacle": "obby",
    "parkour": "obby",
    "clicked": "click",
    "clicks": "click",
    "clicking": "click",
    "touches": "touch",
    "touched": "touch",
    "touching": "touch",
    "step": "touch",
    "steps": "touch",
    "stand": "touch",
    "stands": "touch",
    "walk": "touch",
}
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _stem(word: str) -> str:
    """Crude suffix stripping; a final "e" goes too so close/closed/closing meet at "clos"."""
    for suffix in ("ing", "ers", "er", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def normalize(text: str) -> list[str]:
    """Content words of `text`, split, stop-listed, synonym-mapped and stemmed.

    "ProximityPrompt" gives "proximity", "prompt" and "proximityprompt".
    """
    out = []
    for raw in _TOKEN.findall(text):
        parts = _CAMEL.sub(" ", raw).lower().split()
        for word in parts + ([raw.lower()] if len(parts) > 1 else []):
            if word in STOPWORDS or len(word) < 2 or word.isdigit():
                continue
            out.append(_stem(SYNONYMS.get(word, word)))
    return out


@dataclass(frozen=True)
class _Doc:
    template: Template
    tf: Counter
    length: int
    terms: frozenset[str]
    title: frozenset[str]
    keywords: frozenset[str]  # keyword terms that are not title terms


@dataclass(frozen=True)
class _Index:
    docs: tuple[_Doc, ...]
    idf: dict[str, float]
    avg_length: float
    unseen_idf: float


def _doc_terms(t: Template) -> Counter:
    tf: Counter = Counter()
    fields = {"title": t.title, "keywords": " ".join(t.keywords), "description": t.description}
    for name, text in fields.items():
        for term in set(normalize(text)):
            tf[term] += FIELD_WEIGHTS[name]
    return tf


@functools.cache
def _index() -> _Index:
    templates = load_templates()
    docs = []
    df: Counter = Counter()
    for t in templates:
        tf = _doc_terms(t)
        title = frozenset(normalize(t.title))
        keywords = frozenset(w for k in t.keywords for w in normalize(k)) - title
        docs.append(_Doc(t, tf, sum(tf.values()), frozenset(tf), title, keywords))
        df.update(tf.keys())
    n = len(docs)
    idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
    avg = sum(d.length for d in docs) / max(n, 1)
    return _Index(tuple(docs), idf, avg, math.log(1 + (n + 0.5) / 0.5))


def _bm25(index: _Index, doc: _Doc, query: list[str]) -> float:
    score = 0.0
    for term in query:
        tf = doc.tf.get(term, 0)
        if tf:
            norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * doc.length / index.avg_length))
            score += index.idf[term] * norm
    return score


def _coverage(index: _Index, doc: _Doc, query: list[str]) -> float:
    total = matched = 0.0
    for term in set(query):
        weight = index.idf.get(term, index.unseen_idf)
        total += weight
        if term in doc.terms:
            matched += weight
    return matched / total if total else 0.0


def _concept(index: _Index, doc: _Doc, query: list[str]) -> float:
    words = set(query)
    title_total = sum(index.idf[t] for t in doc.title)
    title_found = sum(index.idf[t] for t in doc.title if t in words)
    title_share = title_found / title_total if title_total else 0.0
    keyword_share = min(1.0, len(doc.keywords & words) / CONCEPT_KEYWORDS)
    return 0.5 * title_share + 0.5 * keyword_share


def search(prompt: str) -> list[tuple[Template, float]]:
    """All templates ranked for `prompt`, best first, with a confidence in [0, 1]."""
    index = _index()
    query = normalize(prompt or "")
    if not query:
        return [(d.template, 0.0) for d in index.docs]
    scored = []
    for doc in index.docs:
        bm25 = _bm25(index, doc, query)
        coverage = _coverage(index, doc, query) if bm25 > 0 else 0.0
        confidence = max(coverage, _concept(index, doc, query)) if bm25 > 0 else 0.0
        scored.append((bm25, coverage, confidence, doc.template))
    top = max(b for b, _, _, _ in scored) or 1.0
    # rank by confidence plus how much of the request a template explains (the specific
    # template before a generic one the request also names), then by BM25 (field weights,
    # term frequency) to order templates that explain the same words
    scored.sort(
        key=lambda item: (-(item[2] + item[1] + RANK_BM25_WEIGHT * item[0] / top), item[3].id)
    )
    return [(t, round(min(max(c, 0.0), 1.0), 4)) for _, _, c, t in scored]


def best_match(prompt: str) -> tuple[Template, float] | None:
    """The top template when its confidence reaches CONFIDENCE_THRESHOLD, else None."""
    ranked = search(prompt)
    if ranked and ranked[0][1] >= CONFIDENCE_THRESHOLD:
        return ranked[0]
    return None
