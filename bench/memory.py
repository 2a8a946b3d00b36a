"""Memory vs full history on generated long conversations (deterministic, no network).

    DJANGO_SETTINGS_MODULE=config.settings python -m bench.memory [--conversations 5] [--turns 200]

Each conversation has `turns` filler turns with facts planted at known turns; at the end, one
question per fact. For each question: the memory node's selection (the same `select_turns`,
similarity + recency, within the token budget) vs feeding the whole history. Prints input tokens
per answer (cl100k) and the rate at which the planted fact is in the context. Embeddings: the
scripted server's deterministic `embed_text` (hashed bag of words), computed in-process.

With the rolling summary (`summarize` on the node, `--summary-tokens` of the budget): the
conversation is replayed turn by turn through the node's `summary_plan`, folding overflow into
the summary as the node would; the summarizer model is simulated by an extractive stand-in
that keeps the sentences the user asked to be remembered (a real model's retention is not
measured here), so the figures are the tokens sent per answer, the fold calls per conversation
and the tokens those calls read.
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


# The node's summarizer prompt (system + framing) in tokens, counted once per fold call.
FOLD_PROMPT_TOKENS = 90


def extractive_summary(previous: str, folded: list[T], limit: int) -> str:
    """Stand-in for the summary model: keep the facts the user asked to be remembered."""
    facts = [previous] if previous else []
    for turn in folded:
        user = turn.text.split("\n", 1)[0]
        if "remember:" in user:
            facts.append("The user said " + user.split("remember:", 1)[1].strip())
    from conversations.tokens import truncate

    return truncate(" ".join(facts) or "Small talk about several topics.", limit)


def rolling_summary(history: list[T], budget: int, summary_tokens: int):
    """Replay the conversation through the node's fold plan; the state after the last turn."""
    from conversations.services import SUMMARY_LABEL_TOKENS, summary_plan

    upto, text, calls, read = 0, "", 0, 0
    window = budget
    for position in range(2, len(history) + 2):
        past = history[: position - 1]
        window, fold = summary_plan(
            past, upto=upto, summarized=bool(text), token_budget=budget,
            summary_tokens=summary_tokens,
        )  # fmt: skip
        if fold:
            calls += 1
            read += FOLD_PROMPT_TOKENS + count(text) + sum(t.tokens for t in fold)
            text = extractive_summary(text, fold, summary_tokens - SUMMARY_LABEL_TOKENS)
            upto = fold[-1].position
    tokens = count(text) + SUMMARY_LABEL_TOKENS if text else 0
    return text, tokens, window, calls, read


def main() -> None:
    from conversations.services import select_turns

    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--summary-tokens", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(7)
    memory_tokens = full_tokens = hits = asked = 0
    summed_tokens = summed_hits = fold_calls = fold_read = largest = 0
    for _ in range(args.conversations):
        history, questions = conversation(rng, args.turns)
        matrix = np.stack([t.vector for t in history])
        full = sum(t.tokens for t in history)
        summary, summary_tokens, window, calls, read = rolling_summary(
            history, args.budget, args.summary_tokens
        )
        fold_calls += calls
        fold_read += read
        for question, position, value in questions:
            q = count(question)
            sims = matrix @ np.asarray(embed_text(question), "float32")
            chosen = select_turns(history, sims, newest=args.turns + 1, token_budget=args.budget)
            memory_tokens += q + sum(t.tokens for _, _, t in chosen)
            full_tokens += q + full
            hits += any(t.position == position and value in t.text for _, _, t in chosen)
            asked += 1
            kept = select_turns(history, sims, newest=args.turns + 1, token_budget=window)
            recalled = summary_tokens + sum(t.tokens for _, _, t in kept)
            largest = max(largest, recalled)
            summed_tokens += q + recalled
            found = any(t.position == position and value in t.text for _, _, t in kept)
            summed_hits += found or value in summary
    ratio = memory_tokens / full_tokens
    print(f"conversations={args.conversations} turns={args.turns} questions={asked} "
          f"budget={args.budget}")  # fmt: skip
    print(
        f"input tokens per answer: memory {memory_tokens / asked:.0f}, "
        f"full history {full_tokens / asked:.0f} ({ratio:.1%} of full; target <= 15%)"
    )
    print(f"fact in context: {hits}/{asked} = {hits / asked:.1%} (target >= 95%)")
    print(
        f"with rolling summary ({args.summary_tokens} of the {args.budget} tokens): "
        f"{summed_tokens / asked:.0f} tokens per answer "
        f"({summed_tokens / full_tokens:.1%} of full), memory at most {largest} tokens; "
        f"fact in context (turns or summary, extractive stand-in) {summed_hits}/{asked} = "
        f"{summed_hits / asked:.1%}"
    )
    turns = args.conversations * args.turns
    print(
        f"summary upkeep: {fold_calls / args.conversations:.1f} fold calls per "
        f"{args.turns}-turn conversation (one per {turns / max(fold_calls, 1):.1f} turns), "
        f"{fold_read / turns:.0f} input tokens per turn on average"
    )


if __name__ == "__main__":
    import django

    django.setup()
    main()
