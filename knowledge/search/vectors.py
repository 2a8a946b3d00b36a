"""Vector search over a knowledge base's embeddings held in memory, updated by the delta.

The vectors are unit length, so cosine similarity is a dot product. A base of at most
`exact_limit` live chunks is scanned exactly. A larger one is searched in two passes: the sign
bits of every vector (48 bytes for 384 dimensions, against 1,536 of float32) are compared with
the query's by Hamming distance, and the `pool` nearest by that measure (ties at the cut all
kept) are scored exactly; the best of those are returned with their exact cosine. The first pass
reads 3% of the memory an exact scan reads, which is what an exact scan waits on when other
processes share the cores and the memory bus (bench/knowledge_speed.py; docs/knowledge.md has
the figures and what the first pass costs in recall).

Dot products are numpy's own loops (einsum), not BLAS: OpenBLAS's threads spin after each call
and, on a loaded machine, the next search waits for them (p95 61 ms against 13 ms single
threaded at 100,000 chunks, load 5.7).

Changes are applied by the delta, as for the lexical postings: removed rows are masked, added
ones go into a second, small segment, merged into the large one once it grows past a tenth of
it. The candidates and the scores depend only on the live vectors, never on how they are laid
out, so the results are those of a fresh build.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .lexical import DEAD_SHARE, MERGE_MIN_ROWS, MERGE_SHARE


def sign_codes(matrix: np.ndarray) -> np.ndarray:
    """The rows' sign bits packed into 64-bit words, word by word: shape (words, rows), each
    word's row contiguous (zero bits pad the last word)."""
    bits = np.packbits(matrix > 0, axis=1)
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(np.ascontiguousarray(bits).view(np.uint64).T)


def hamming(codes: np.ndarray, query_code: np.ndarray) -> np.ndarray:
    """The number of differing bits between each row's code and `query_code` (both as
    `sign_codes` lays them out): one word of every row at a time, so each pass reads a
    contiguous run and its temporaries stay small (3 times faster than row by row)."""
    distance = np.bitwise_count(codes[0] ^ query_code[0]).astype(np.uint16)
    for word in range(1, codes.shape[0]):
        distance += np.bitwise_count(codes[word] ^ query_code[word])
    return distance


def similarities(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.einsum("ij,j->i", matrix, query)


#: Pool rows are scored this many at a time: their copy stays in the CPU's cache instead of
#: going out to memory and back (5,000 rows of 1.5 KB: 3.7 ms at once, 2.0 ms in blocks).
SCORE_BLOCK = 1024


def row_similarities(matrix: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The similarity of `query` to each of `matrix`'s `rows`, in that order."""
    scores = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), SCORE_BLOCK):
        part = rows[start : start + SCORE_BLOCK]
        scores[start : start + len(part)] = similarities(matrix[part], query)
    return scores


class _Segment:
    """Some chunks' vectors: ids, documents, the float32 rows and their sign codes; immutable."""

    def __init__(self, ids: np.ndarray, documents: np.ndarray, matrix: np.ndarray):
        self.ids, self.documents = ids, documents
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.codes = sign_codes(self.matrix)
        self.size = len(ids)

    @classmethod
    def merged(cls, parts: Sequence[tuple[_Segment, np.ndarray | None]], width: int):
        kept = [(s, np.ones(s.size, bool) if a is None else a) for s, a in parts]
        return cls(
            np.concatenate([s.ids[a] for s, a in kept]),
            np.concatenate([s.documents[a] for s, a in kept]),
            np.concatenate([s.matrix[a] for s, a in kept]).reshape(-1, width),
        )


@dataclass(frozen=True)
class _State:
    segments: tuple[_Segment, ...]
    alive: tuple[np.ndarray | None, ...]
    size: int


class VectorIndex:
    """The embedded chunks of a base, one unit vector each, all of one width."""

    def __init__(
        self,
        ids: np.ndarray,
        documents: np.ndarray,
        matrix: np.ndarray,
        *,
        exact_limit: int,
        pool: int,
    ):
        self.width = matrix.shape[1] if matrix.ndim == 2 and len(ids) else 0
        self.exact_limit, self.pool = exact_limit, pool
        segment = _Segment(ids, documents, matrix.reshape(len(ids), self.width))
        self._state = _State((segment,), (None,), segment.size)
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
        matrix: np.ndarray,
    ) -> None:
        """Drop the rows of `removed_ids` and of `removed_documents`, then add these ones (rows of
        another width than the base's are left out: the base is being re-indexed then)."""
        with self._change_lock:
            state = self._state
            if not self.width and len(ids):
                # The first vectors of a base held empty: they set its width.
                self.width = matrix.shape[1]
                empty = np.zeros(0, np.int64)
                empty_segment = _Segment(empty, empty, np.zeros((0, self.width), np.float32))
                state = _State((empty_segment,), (None,), 0)
            if len(ids) and matrix.shape[1] != self.width:
                ids, documents = ids[:0], documents[:0]
            matrix = matrix.reshape(len(ids), self.width)
            parts: list[tuple[_Segment, np.ndarray | None]] = []
            for segment, alive in zip(state.segments, state.alive, strict=True):
                gone = np.isin(segment.ids, removed_ids) | np.isin(
                    segment.documents, removed_documents
                )
                if gone.any():
                    alive = ~gone if alive is None else alive & ~gone
                parts.append((segment, alive))
            main, *small = parts
            delta = _Segment.merged([*small, (_Segment(ids, documents, matrix), None)], self.width)
            dead = 0 if main[1] is None else int(main[0].size - main[1].sum())
            if delta.size > max(MERGE_MIN_ROWS, MERGE_SHARE * main[0].size) or (
                dead > DEAD_SHARE * main[0].size
            ):
                segments, alive = (_Segment.merged([main, (delta, None)], self.width),), (None,)
            elif delta.size:
                segments, alive = (main[0], delta), (main[1], None)
            else:
                segments, alive = (main[0],), (main[1],)
            pairs = zip(segments, alive, strict=True)
            live = sum(s.size if a is None else int(a.sum()) for s, a in pairs)
            self._state = _State(segments, alive, live)

    def search(
        self,
        query: np.ndarray,
        *,
        limit: int,
        allowed: set[int] | None,
        min_similarity: float,
    ) -> list[tuple[int, float]]:
        """The chunks most similar to `query`: [(id, cosine)] best first, ties by id."""
        state = self._state
        if not state.size or query.shape[0] != self.width:
            return []
        query = np.asarray(query, dtype=np.float32)
        allowed_ids = None if allowed is None else np.fromiter(allowed, dtype=np.int64)
        usable = []
        for segment, alive in zip(state.segments, state.alive, strict=True):
            mask = alive
            if allowed_ids is not None:
                permitted = np.isin(segment.ids, allowed_ids)
                mask = permitted if mask is None else mask & permitted
            usable.append(mask)
        pairs = list(zip(state.segments, usable, strict=True))
        live = sum(s.size if m is None else int(m.sum()) for s, m in pairs)
        if live > self.exact_limit:
            candidates = self._candidates(state.segments, usable, query)
        else:
            candidates = [None if m is None else np.flatnonzero(m) for _, m in pairs]
        found: list[tuple[int, float]] = []
        for segment, rows in zip(state.segments, candidates, strict=True):
            if rows is None:  # every row: no copy of the matrix
                rows, scores = np.arange(segment.size), similarities(segment.matrix, query)
            elif not len(rows):
                continue
            else:
                scores = row_similarities(segment.matrix, rows, query)
            keep = scores >= min_similarity
            if keep.sum() > limit:
                cut = np.partition(scores[keep], keep.sum() - limit)[keep.sum() - limit]
                keep &= scores >= cut
            found += zip(segment.ids[rows[keep]].tolist(), scores[keep].tolist(), strict=True)
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found[:limit]

    def _candidates(
        self, segments: tuple[_Segment, ...], usable: list[np.ndarray | None], query: np.ndarray
    ) -> list[np.ndarray]:
        """Per segment, the rows within the `pool` nearest by Hamming distance of the sign
        codes (every row at the cut's distance too, so the set does not depend on row order)."""
        query_code = sign_codes(query.reshape(1, -1))[:, 0]
        distances = []
        for segment, mask in zip(segments, usable, strict=True):
            distance = hamming(segment.codes, query_code)
            if mask is not None:
                distance[~mask] = np.iinfo(np.uint16).max
            distances.append(distance)
        counts = np.zeros(self.width + 2, np.int64)
        for distance, mask in zip(distances, usable, strict=True):
            counts += np.bincount(
                np.minimum(distance, self.width + 1) if mask is not None else distance,
                minlength=self.width + 2,
            )[: self.width + 2]
        cut = int(np.searchsorted(np.cumsum(counts[: self.width + 1]), self.pool))
        return [np.flatnonzero(distance <= cut) for distance in distances]
