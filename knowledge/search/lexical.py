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

Changes are applied by the delta (`LexicalIndex.changed`): removed chunks are masked, added ones
go into a second, small segment of postings, and the two are merged once the small one outgrows
a tenth of the large one. The statistics BM25 needs (live chunks, their average length, each
term's live document frequency) are taken at query time from what is live, so the scores are
those a fresh build over the same chunks would give.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


#: A change's postings go into the small segment, merged into the large one when it grows past
#: this share of it (or this many chunks, whichever is more), or when this share is dead.
MERGE_SHARE = 0.1
MERGE_MIN_ROWS = 2000
DEAD_SHARE = 0.2


class _Segment:
    """Postings of some chunks, grouped by term (chunks in row order within a term); immutable.

    `terms` is the per-posting term id, `rows` its chunk's row, `tf` the word count."""

    def __init__(self, ids, documents, lengths, terms, rows, tf, vocabulary_size: int):
        self.ids, self.documents, self.lengths = ids, documents, lengths
        self.size = len(ids)
        order = np.lexsort((rows, terms))
        self.terms, self.rows, self.tf = terms[order], rows[order], tf[order]
        frequency = np.bincount(self.terms, minlength=vocabulary_size)
        self.offsets = np.concatenate([[0], np.cumsum(frequency)]).astype(np.int64)
        self._lengths = lengths.astype(np.float32)
        #: The average chunk length the kept weights are for, and the weights by term.
        self._weights: tuple[float, dict[int, np.ndarray]] = (0.0, {})

    @classmethod
    def of_texts(cls, ids, documents, texts: Iterable[str], vocabulary: dict[str, int]):
        # Word → term id (-1: a stop word), so the words of a chunk are mapped in C, not in a
        # Python loop per word.
        word_terms: dict[str, int] = {}
        terms, counts = array("i"), array("i")
        for text in texts:
            tokens = words(text)
            for word in set(tokens).difference(word_terms):
                term = stem(word)
                word_terms[word] = vocabulary.setdefault(term, len(vocabulary)) if term else -1
            terms.extend(map(word_terms.__getitem__, tokens))
            counts.append(len(tokens))
        n = len(ids)
        all_terms = np.frombuffer(terms, dtype=np.int32)
        rows = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(counts, dtype=np.int32))
        kept = all_terms >= 0
        rows, all_terms = rows[kept], all_terms[kept]
        keys, tf = np.unique(all_terms.astype(np.int64) * max(n, 1) + rows, return_counts=True)
        return cls(
            ids,
            documents,
            np.bincount(rows, minlength=n).astype(np.int64),
            (keys // max(n, 1)).astype(np.int32),
            (keys % max(n, 1)).astype(np.int32),
            tf.astype(np.float32),
            len(vocabulary),
        )

    @classmethod
    def merged(cls, parts: Sequence[tuple[_Segment, np.ndarray | None]], vocabulary_size: int):
        """One segment of the live chunks of `parts` ((segment, alive mask or None))."""
        ids, documents, lengths, terms, rows, tf = [], [], [], [], [], []
        base = 0
        for segment, alive in parts:
            live = np.ones(segment.size, bool) if alive is None else alive
            renumber = np.cumsum(live, dtype=np.int64) - 1 + base
            kept = live[segment.rows]
            ids.append(segment.ids[live])
            documents.append(segment.documents[live])
            lengths.append(segment.lengths[live])
            terms.append(segment.terms[kept])
            rows.append(renumber[segment.rows[kept]].astype(np.int32))
            tf.append(segment.tf[kept])
            base += int(live.sum())
        return cls(*(np.concatenate(x) for x in (ids, documents, lengths, terms, rows, tf)),
                   vocabulary_size)  # fmt: skip

    def postings(self, term: int) -> tuple[int, int]:
        if term >= len(self.offsets) - 1:
            return 0, 0
        return int(self.offsets[term]), int(self.offsets[term + 1])

    def weights(self, term: int, start: int, end: int, average: float) -> np.ndarray:
        """The term-frequency part of BM25 of a term's postings, at this average chunk length
        (kept per term until the average changes: a change costs only the terms asked since)."""
        held_average, by_term = self._weights
        if held_average != average:
            by_term = {}
            self._weights = (average, by_term)
        found = by_term.get(term)
        if found is None:
            tf = self.tf[start:end]
            norm = K1 * (1 - B + B * self._lengths[self.rows[start:end]] / average)
            found = by_term[term] = tf * (K1 + 1) / (tf + norm)
        return found


@dataclass(frozen=True)
class _State:
    segments: tuple[_Segment, ...]
    #: Per segment: which rows are live (None: all of them).
    alive: tuple[np.ndarray | None, ...]
    size: int
    total_length: int


class LexicalIndex:
    """The postings of one knowledge base's chunks: for each term, the chunks holding it."""

    def __init__(self, ids: np.ndarray, texts: Iterable[str], documents: np.ndarray | None = None):
        self.vocabulary: dict[str, int] = {}
        if documents is None:
            documents = np.zeros(len(ids), np.int64)
        segment = _Segment.of_texts(ids, documents, texts, self.vocabulary)
        self._state = _State((segment,), (None,), segment.size, int(segment.lengths.sum()))
        self._change_lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._state.size

    @property
    def segments(self) -> int:
        return len(self._state.segments)

    def changed(
        self,
        *,
        removed_ids: np.ndarray,
        removed_documents: np.ndarray,
        ids: np.ndarray,
        documents: np.ndarray,
        texts: Sequence[str],
    ) -> None:
        """Drop the chunks of `removed_ids` and of `removed_documents`, then add these ones."""
        with self._change_lock:
            state = self._state
            parts: list[tuple[_Segment, np.ndarray | None]] = []
            for segment, alive in zip(state.segments, state.alive, strict=True):
                gone = np.isin(segment.ids, removed_ids) | np.isin(
                    segment.documents, removed_documents
                )
                if gone.any():
                    alive = ~gone if alive is None else alive & ~gone
                parts.append((segment, alive))
            added = _Segment.of_texts(ids, documents, texts, self.vocabulary)
            size = len(self.vocabulary)
            main, *small = parts
            small.append((added, None))
            delta = _Segment.merged(small, size) if len(small) > 1 else added
            dead = 0 if main[1] is None else int(main[0].size - main[1].sum())
            if delta.size > max(MERGE_MIN_ROWS, MERGE_SHARE * main[0].size) or (
                dead > DEAD_SHARE * main[0].size
            ):
                segments, alive = (_Segment.merged([main, (delta, None)], size),), (None,)
            elif delta.size:
                segments, alive = (main[0], delta), (main[1], None)
            else:
                segments, alive = (main[0],), (main[1],)
            pairs = list(zip(segments, alive, strict=True))
            live = sum(s.size if a is None else int(a.sum()) for s, a in pairs)
            total = sum(int(s.lengths.sum() if a is None else s.lengths[a].sum()) for s, a in pairs)
            self._state = _State(segments, alive, live, total)

    def scores(self, words: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per segment: BM25 of every chunk for the query words (0: no word in common, or not
        live), and the share of the query's weight (the idf of its terms) its words cover."""
        return self._scores(self._state, words)

    def _scores(self, state: _State, words: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        n = state.size
        average = state.total_length / n if n and state.total_length else 1.0
        parts = list(zip(state.segments, state.alive, strict=True))
        scores = [np.zeros(s.size, dtype=np.float32) for s, _ in parts]
        covered = [np.zeros(s.size, dtype=np.float32) for s, _ in parts]
        total = 0.0
        for term in dict.fromkeys(stem(w) for w in words):
            if not term:
                continue
            t = self.vocabulary.get(term)
            spans = [s.postings(t) if t is not None else (0, 0) for s, _ in parts]
            df = sum(
                (end - start) if alive is None else int(alive[s.rows[start:end]].sum())
                for (s, alive), (start, end) in zip(parts, spans, strict=True)
            )
            # A word no chunk has weighs most: a question whose telling words are not the
            # base's ("incentive" for "bonus") is not answered by its everyday ones.
            idf = np.float32(np.log1p((n - df + 0.5) / (df + 0.5)))
            total += float(idf)
            if not df:
                continue
            for i, ((s, _), (start, end)) in enumerate(zip(parts, spans, strict=True)):
                if end > start:
                    rows = s.rows[start:end]
                    scores[i][rows] += s.weights(t, start, end, average) * idf
                    covered[i][rows] += idf
        for (_, alive), segment_scores in zip(parts, scores, strict=True):
            if alive is not None:
                segment_scores[~alive] = 0
        return [
            (segment_scores, shares / total if total else shares)
            for segment_scores, shares in zip(scores, covered, strict=True)
        ]

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
        state = self._state
        allowed_ids = None if allowed is None else np.fromiter(allowed, dtype=np.int64)
        found: list[tuple[int, float]] = []
        for segment, (scores, coverage) in zip(
            state.segments, self._scores(state, words), strict=True
        ):
            if allowed_ids is not None:
                scores[~np.isin(segment.ids, allowed_ids)] = 0
            if min_coverage > 0:
                scores[coverage < min_coverage] = 0
            matched = np.flatnonzero(scores > 0)
            if len(matched) > limit:
                # The limit-th best score, then every chunk at least that good (ties kept for
                # the id order below).
                cut = np.partition(scores[matched], len(matched) - limit)[len(matched) - limit]
                matched = matched[scores[matched] >= cut]
            found += ((int(segment.ids[i]), float(scores[i])) for i in matched)
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found[:limit]
