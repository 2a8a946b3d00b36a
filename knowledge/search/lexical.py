"""Lexical search: BM25 over an inverted index of a knowledge base, held in memory.

The database's own full-text ranking (SQLite FTS5's bm25, PostgreSQL's ts_rank_cd) scores every
chunk that shares a word with the query: at 100,000 chunks a question of everyday words matches
most of them and took 100-260 ms on SQLite, more on PostgreSQL (bench/knowledge_speed.py).
Here each base's chunks are tokenized once into postings (term → chunks, with the term-frequency
part of BM25 precomputed), so a query costs only the postings of its own terms: a few ms at
100,000 chunks, the same on either database.

Words: runs of letters and digits, lower-cased, accents folded, English stop words left out
(they match nearly every chunk), stemmed with the Snowball English stemmer ("replacing" and
"replaced" are one term). BM25 with k1 = 1.2, b = 0.75 and Lucene's idf, over the chunk's heading
and text together; the statistics are the base's own.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from collections.abc import Iterable

import numpy as np
import snowballstemmer

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 32
#: Runs of letters and digits, once underscores are spaces (faster than [^\W_]+ by a third).
_WORD = re.compile(r"\w+", re.UNICODE)
#: English words too common to rank by (a subset of PostgreSQL's english stop list).
_STOP_WORDS = (
    "a about above after again all am an and any are as at be been before being below between "
    "both but by can could did do does doing down during each few for from further had has have "
    "having he her here hers him his how i if in into is it its itself just me more most my no "
    "nor not now of off on once only or other our ours out over own same she should so some "
    "such than that the their theirs them then there these they this those through to too under "
    "until up very was we were what when where which while who whom why will with would you "
    "your yours"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())

_stemmer = snowballstemmer.stemmer("english")
_stems: dict[str, str] = {}
_stems_lock = threading.Lock()


def words(text: str) -> list[str]:
    """The words of a text, lower-cased, in order."""
    return _WORD.findall(text.lower().replace("_", " "))


def query_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, each once, in order (at most MAX_QUERY_TERMS)."""
    seen: dict[str, None] = {}
    for term in words(query):
        seen.setdefault(term, None)
    return list(seen)[:MAX_QUERY_TERMS]


def stem(word: str) -> str:
    """The index term of a lower-cased word ("" for a stop word), remembered per process."""
    found = _stems.get(word)
    if found is None:
        if word in STOP_WORDS:
            found = ""
        else:
            folded = word
            if not word.isascii():
                decomposed = unicodedata.normalize("NFKD", word)
                folded = "".join(c for c in decomposed if not unicodedata.combining(c))
            found = _stemmer.stemWord(folded) or folded
        with _stems_lock:
            _stems[word] = found
    return found


class LexicalIndex:
    """The postings of one knowledge base's chunks: for each term, the chunks holding it."""

    def __init__(self, ids: np.ndarray, texts: Iterable[str]):
        self.ids = ids
        self.size = n = len(ids)
        vocabulary: dict[str, int] = {}
        # Word → term id (-1: a stop word), so the words of a chunk are mapped in C, not in a
        # Python loop per word (3.3 s → see bench at 100,000 chunks).
        word_terms: dict[str, int] = {}
        terms, counts = array("i"), array("i")
        for text in texts:
            tokens = words(text)
            for word in set(tokens).difference(word_terms):
                term = stem(word)
                word_terms[word] = vocabulary.setdefault(term, len(vocabulary)) if term else -1
            terms.extend(map(word_terms.__getitem__, tokens))
            counts.append(len(tokens))
        self.vocabulary = vocabulary
        all_terms = np.frombuffer(terms, dtype=np.int32)
        rows = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(counts, dtype=np.int32))
        kept = all_terms >= 0
        self._build(rows[kept], all_terms[kept], n)

    def _build(self, rows: np.ndarray, terms: np.ndarray, n: int) -> None:
        lengths = np.bincount(rows, minlength=n).astype(np.float32)
        average = float(lengths.mean()) if n and lengths.any() else 1.0
        # One entry per (term, chunk), grouped by term, chunks in order within a term.
        keys, counts = np.unique(terms.astype(np.int64) * max(n, 1) + rows, return_counts=True)
        posting_terms = keys // max(n, 1)
        self.rows = (keys % max(n, 1)).astype(np.int32)
        tf = counts.astype(np.float32)
        norm = K1 * (1 - B + B * lengths[self.rows] / average)
        self.weights = (tf * (K1 + 1) / (tf + norm)).astype(np.float32)
        frequency = np.bincount(posting_terms, minlength=len(self.vocabulary))
        self.offsets = np.concatenate([[0], np.cumsum(frequency)]).astype(np.int64)
        self.idf = np.log1p((n - frequency + 0.5) / (frequency + 0.5)).astype(np.float32)

    def scores(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk for the query words (0: no word in common), and the share of the
        query's weight (the idf of its terms) each chunk's words cover."""
        scores = np.zeros(self.size, dtype=np.float32)
        covered = np.zeros(self.size, dtype=np.float32)
        total = 0.0
        for term in dict.fromkeys(stem(w) for w in words):
            t = self.vocabulary.get(term) if term else None
            if t is None:
                if term:
                    # A word no chunk has weighs most: a question whose telling words are not
                    # the base's ("incentive" for "bonus") is not answered by its everyday ones.
                    total += float(np.log1p((self.size + 0.5) / 0.5))
                continue
            start, end = self.offsets[t], self.offsets[t + 1]
            rows, idf = self.rows[start:end], self.idf[t]
            scores[rows] += self.weights[start:end] * idf
            covered[rows] += idf
            total += float(idf)
        return scores, covered / total if total else covered

    def search(
        self,
        words: list[str],
        *,
        limit: int,
        allowed: set[int] | None = None,
        min_coverage: float = 0.0,
    ) -> list[tuple[int, float]]:
        """The best `limit` chunks for the words: [(id, bm25)] best first, ties by id.

        `min_coverage` leaves out chunks whose words cover less of the query's weight (0..1)."""
        scores, coverage = self.scores(words)
        if allowed is not None:
            scores[~np.isin(self.ids, np.fromiter(allowed, dtype=np.int64))] = 0
        if min_coverage > 0:
            scores[coverage < min_coverage] = 0
        matched = np.flatnonzero(scores > 0)
        if len(matched) > limit:
            # The limit-th best score, then every chunk at least that good (ties kept for the
            # id order below).
            cut = np.partition(scores[matched], len(matched) - limit)[len(matched) - limit]
            matched = matched[scores[matched] >= cut]
        found = sorted(
            ((int(self.ids[i]), float(scores[i])) for i in matched),
            key=lambda pair: (-pair[1], pair[0]),
        )
        return found[:limit]
