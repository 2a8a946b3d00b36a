"""BM25 over the in-memory postings: stems, stop words, rarity, length, ties, filters."""

import math

import numpy as np
import pytest

from knowledge.search.lexical import K1, LexicalIndex, stem, words


def index(*texts):
    return LexicalIndex(np.arange(10, 10 + len(texts), dtype=np.int64), texts)


def test_words_split_underscores_and_fold_case():
    assert words("Sick_days: SICK days, 7am") == ["sick", "days", "sick", "days", "7am"]


def test_stem_joins_inflections_folds_accents_and_drops_stop_words():
    assert stem("replacing") == stem("replaced") == "replac"
    assert stem("café") == stem("cafe")
    assert stem("the") == ""


def test_search_finds_inflected_words_and_ignores_stop_words():
    found = index("Laptops are replaced every three years.", "The car park opens at 7am.")
    assert found.search(["the", "replacing", "laptop"], limit=5)[0][0] == 10
    assert found.search(["the", "at"], limit=5) == []  # stop words alone match nothing


def test_rarer_terms_weigh_more():
    found = index("apple pear", "apple plum", "apple fig", "kiwi lime")
    ranked = found.search(["apple", "pear"], limit=5)
    assert [chunk_id for chunk_id, _ in ranked] == [10, 11, 12]
    n, df = 4, 3
    idf_apple = math.log1p((n - df + 0.5) / (df + 0.5))
    idf_pear = math.log1p((n - 1 + 0.5) / (1 + 0.5))
    tf_part = (K1 + 1) / (1 + K1)  # tf 1 at the average length
    assert ranked[0][1] == pytest.approx((idf_apple + idf_pear) * tf_part, rel=1e-5)


def test_shorter_chunks_rank_first_and_ties_go_by_id():
    found = index("onion " + "filler " * 20, "onion", "onion")
    assert [chunk_id for chunk_id, _ in found.search(["onion"], limit=5)] == [11, 12, 10]


def test_limit_keeps_the_best_and_allowed_restricts_the_chunks():
    found = index(*[f"word{i} common" for i in range(100)], "rare common")
    assert found.search(["rare", "common"], limit=1)[0][0] == 110
    allowed = found.search(["rare", "common"], limit=3, allowed={15, 16})
    assert sorted(chunk_id for chunk_id, _ in allowed) == [15, 16]


def test_an_empty_base_matches_nothing():
    assert index().search(["anything"], limit=5) == []


def test_min_coverage_drops_chunks_matching_only_a_light_share_of_the_query():
    found = index("apple pear", "apple plum", "fig kiwi")
    # "banana" is in no chunk, so it weighs most: "apple" alone covers little of the query.
    assert [c for c, _ in found.search(["apple", "banana"], limit=5)] == [10, 11]
    assert found.search(["apple", "banana"], limit=5, min_coverage=0.5) == []
    # Matching every known word of the query covers all of it.
    assert [c for c, _ in found.search(["apple", "pear"], limit=5, min_coverage=0.5)] == [10]
