"""The in-memory postings and vectors updated by the delta rank exactly as a fresh build over the
same chunks: through removals, additions, a second segment and its merge into the first."""

import random

import numpy as np
import pytest

from knowledge.search import lexical
from knowledge.search.lexical import LexicalIndex
from knowledge.search.vectors import VectorIndex, hamming, sign_codes

WORDS = [f"w{i}" for i in range(300)] + ["the", "and", "replacing", "replaced", "café", "cafe"]


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, weights=[1 / (i + 5) for i in range(len(WORDS))], k=12))


def queries(rng: random.Random, n: int = 25) -> list[list[str]]:
    return [rng.sample(WORDS, rng.randint(1, 5)) for _ in range(n)]


def assert_same_ranking(got, want):
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)


def test_lexical_delta_ranks_as_a_fresh_build_through_segments_and_a_merge():
    rng = random.Random(7)
    live = {i: (i // 10, random_text(rng)) for i in range(2500)}  # id → (document, text)

    def arrays(rows):
        ids = np.array(sorted(rows), dtype=np.int64)
        return ids, np.array([rows[i][0] for i in ids], dtype=np.int64)

    ids, documents = arrays(live)
    held = LexicalIndex(ids, [live[i][1] for i in ids], documents)
    next_id, segments_seen = 2500, set()
    for step in range(12):
        gone_documents = rng.sample(sorted({d for d, _ in live.values()}), 3)
        gone_ids = rng.sample(sorted(live), 20)
        live = {
            i: row for i, row in live.items() if row[0] not in gone_documents and i not in gone_ids
        }
        added = {next_id + k: (1000 + step, random_text(rng)) for k in range(300)}
        next_id += 300
        live.update(added)
        add_ids, add_documents = arrays(added)
        held.changed(
            removed_ids=np.array(gone_ids, dtype=np.int64),
            removed_documents=np.array(gone_documents, dtype=np.int64),
            ids=add_ids,
            documents=add_documents,
            texts=[added[i][1] for i in add_ids],
        )
        segments_seen.add(held.segments)
        ids, documents = arrays(live)
        fresh = LexicalIndex(ids, [live[i][1] for i in ids], documents)
        assert held.size == fresh.size == len(live)
        for words in queries(rng):
            assert_same_ranking(held.search(words, limit=20), fresh.search(words, limit=20))
            assert_same_ranking(
                held.search(words, limit=20, min_coverage=0.3),
                fresh.search(words, limit=20, min_coverage=0.3),
            )
        allowed = set(rng.sample(sorted(live), 200))
        words = rng.sample(WORDS, 3)
        assert_same_ranking(
            held.search(words, limit=10, allowed=allowed),
            fresh.search(words, limit=10, allowed=allowed),
        )
    assert segments_seen == {1, 2}  # a small segment was held, and merged into the large one
    assert lexical.MERGE_MIN_ROWS < 3000


def test_lexical_delta_replacing_a_chunk_forgets_its_old_words():
    held = LexicalIndex(np.array([1, 2], dtype=np.int64), ["apple pear", "plum"])
    held.changed(
        removed_ids=np.array([1], dtype=np.int64),
        removed_documents=np.zeros(0, np.int64),
        ids=np.array([1], dtype=np.int64),
        documents=np.zeros(1, np.int64),
        texts=["kiwi"],
    )
    assert held.search(["apple"], limit=5) == []
    assert [i for i, _ in held.search(["kiwi"], limit=5)] == [1]
    fresh = LexicalIndex(np.array([1, 2], dtype=np.int64), ["kiwi", "plum"])
    words = ["kiwi", "plum"]
    assert_same_ranking(held.search(words, limit=5), fresh.search(words, limit=5))


def unit_rows(rng: np.random.Generator, n: int, width: int = 48) -> np.ndarray:
    rows = rng.standard_normal((n, width)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("exact_limit", [10**9, 0], ids=["exact", "sign-bit pool"])
def test_vector_delta_ranks_as_a_fresh_build(exact_limit):
    rng = np.random.default_rng(3)
    pick = random.Random(3)
    live = {i: (i // 10, row) for i, row in enumerate(unit_rows(rng, 2500))}

    def build(rows):
        ids = np.array(sorted(rows), dtype=np.int64)
        return VectorIndex(
            ids,
            np.array([rows[i][0] for i in ids], dtype=np.int64),
            np.stack([rows[i][1] for i in ids]),
            exact_limit=exact_limit,
            pool=150,
        )

    held, next_id, segments_seen = build(live), 2500, set()
    for step in range(12):
        gone_documents = pick.sample(sorted({d for d, _ in live.values()}), 3)
        gone_ids = pick.sample(sorted(live), 20)
        live = {
            i: row for i, row in live.items() if row[0] not in gone_documents and i not in gone_ids
        }
        matrix = unit_rows(rng, 300)
        add_ids = np.arange(next_id, next_id + 300, dtype=np.int64)
        next_id += 300
        live.update({int(i): (1000 + step, row) for i, row in zip(add_ids, matrix, strict=True)})
        held.changed(
            removed_ids=np.array(gone_ids, dtype=np.int64),
            removed_documents=np.array(gone_documents, dtype=np.int64),
            ids=add_ids,
            documents=np.full(300, 1000 + step, dtype=np.int64),
            matrix=matrix,
        )
        segments_seen.add(held.segments)
        fresh = build(live)
        assert held.size == fresh.size == len(live)
        for query in unit_rows(rng, 10):
            got = held.search(query, limit=20, allowed=None, min_similarity=-np.inf)
            assert_same_ranking(
                got, fresh.search(query, limit=20, allowed=None, min_similarity=-np.inf)
            )
            assert len(got) == 20 and set(dict(got)) <= set(live)
        allowed = set(pick.sample(sorted(live), 100))
        assert_same_ranking(
            held.search(query, limit=5, allowed=allowed, min_similarity=0.1),
            fresh.search(query, limit=5, allowed=allowed, min_similarity=0.1),
        )
    assert segments_seen == {1, 2}


def test_sign_bit_pool_finds_the_exact_nearest_when_the_pool_holds_them():
    rng = np.random.default_rng(5)
    matrix = unit_rows(rng, 3000, width=100)  # not a multiple of 64 bits: padded codes
    ids = np.arange(3000, dtype=np.int64)
    exact = VectorIndex(ids, ids, matrix, exact_limit=10**9, pool=10)
    pooled = VectorIndex(ids, ids, matrix, exact_limit=0, pool=3000)
    narrow = VectorIndex(ids, ids, matrix, exact_limit=0, pool=30)
    query = matrix[17] + 0.05 * unit_rows(rng, 1, width=100)[0]
    want = exact.search(query, limit=10, allowed=None, min_similarity=-np.inf)
    assert want[0][0] == 17
    assert pooled.search(query, limit=10, allowed=None, min_similarity=-np.inf) == want
    # A narrow pool still scores exactly what it keeps: its best is the true nearest here.
    got = narrow.search(query, limit=10, allowed=None, min_similarity=-np.inf)
    assert got[0] == want[0] and all(s <= want[0][1] for _, s in got)


def test_hamming_counts_differing_sign_bits():
    rows = np.array([[1, -1, 1] + [1] * 70, [-1, -1, -1] + [1] * 70], dtype=np.float32)
    codes = sign_codes(rows)
    assert codes.shape == (2, 2)  # 73 bits in two 64-bit words, each word's rows together
    assert hamming(codes, codes[:, 0]).tolist() == [0, 2]
    assert hamming(codes, codes[:, 1]).tolist() == [2, 0]
    wide = np.random.default_rng(3).standard_normal((50, 384)).astype(np.float32)
    expected = [[int(((a > 0) != (b > 0)).sum()) for b in wide] for a in wide[:5]]
    wide_codes = sign_codes(wide)
    assert [hamming(wide_codes, wide_codes[:, i]).tolist() for i in range(5)] == expected
