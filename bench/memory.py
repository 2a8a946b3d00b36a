"""Memory vs full history on generated long conversations (deterministic, no network).

    DJANGO_SETTINGS_MODULE=config.settings python -m bench.memory [--conversations 5] [--turns 200]

Each conversation has `turns` filler turns with facts planted at known turns; at the end, one
question per fact. For each question: the memory node's selection (the same `select_turns`,
similarity + recency, within the token budget) vs feeding the whole history. Prints input tokens
per answer (cl100k) and the rate at which the planted fact is in the context. Embeddings: the
scripted server's deterministic `embed_text` (hashed bag of words), computed in-process.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

import numpy as np

from conversations.tokens import count
from tests.llmserver import embed_text

TOPICS = ["trains", "weather", "maps", "recipes", "football", "invoices", "printers", "music"]
FACTS = [
    ("my dog is named {v}", "What is the name of my dog?", ["Biscuit", "Rex", "Pepper"]),
    ("my flight number is {v}", "Which flight number did I give you?", ["BA117", "LH402"]),
    ("my sister lives in {v}", "Where does my sister live?", ["Lisbon", "Oslo", "Quito"]),
    ("my locker code is {v}", "What was my locker code?", ["4471", "9023", "1180"]),
    ("my favourite colour is {v}", "What is my favourite colour?", ["teal", "ochre"]),
]


@dataclass
class T:
    position: int
    text: str
    tokens: int
    vector: np.ndarray


def conversation(rng: random.Random, turns: int):
    planted = sorted(rng.sample(range(2, turns - 10), len(FACTS)))
    history, questions = [], []
    for position in range(1, turns + 1):
        if position in planted:
            template, question, values = FACTS[planted.index(position)]
            value = rng.choice(values)
            user = "Please remember: " + template.format(v=value) + "."
            answer = "Noted, I will remember that."
            questions.append((question, position, value))
        else:
            a, b = rng.sample(TOPICS, 2)
            user = f"Tell me something about {a} and {b}, item {position}."
            answer = f"Here are a few notes on {a} and {b} for item {position}, in short."
        text = f"User: {user}\nAssistant: {answer}"
        history.append(T(position, text, count(text), np.asarray(embed_text(text), "float32")))
    return history, questions


def main() -> None:
    from conversations.services import select_turns

    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--budget", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    memory_tokens = full_tokens = hits = asked = 0
    for _ in range(args.conversations):
        history, questions = conversation(rng, args.turns)
        matrix = np.stack([t.vector for t in history])
        full = sum(t.tokens for t in history)
        for question, position, value in questions:
            q = count(question)
            sims = matrix @ np.asarray(embed_text(question), "float32")
            chosen = select_turns(history, sims, newest=args.turns + 1, token_budget=args.budget)
            memory_tokens += q + sum(t.tokens for _, _, t in chosen)
            full_tokens += q + full
            hits += any(t.position == position and value in t.text for _, _, t in chosen)
            asked += 1
    ratio = memory_tokens / full_tokens
    print(f"conversations={args.conversations} turns={args.turns} questions={asked} "
          f"budget={args.budget}")  # fmt: skip
    print(
        f"input tokens per answer: memory {memory_tokens / asked:.0f}, "
        f"full history {full_tokens / asked:.0f} ({ratio:.1%} of full; target <= 15%)"
    )
    print(f"fact in context: {hits}/{asked} = {hits / asked:.1%} (target >= 95%)")


if __name__ == "__main__":
    import django

    django.setup()
    main()
