"""How much LlmClient adds on top of the raw SDK, against the scripted server on loopback.

    .venv/bin/python -m bench.llm_overhead [--calls 200] [--threads 8]

Bounded: a fixed number of calls to 127.0.0.1 only; the server stops with the script.
"""

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import openai

from runs.llm import LlmClient
from tests.llmserver import ScriptedLLM

MESSAGES = [{"role": "user", "content": "Summarise the meeting notes in two sentences."}]


def timed(function, calls: int, threads: int) -> list[float]:
    def one(_: int) -> float:
        started = time.perf_counter()
        function()
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(calls)))


def report(name: str, latencies: list[float], wall: float) -> None:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"{name:<28} p50 {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms  "
        f"{len(ordered) / wall:7.1f} calls/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with ScriptedLLM() as server:
        providers = {"bench": {"base_url": server.base_url, "api_key_env": "", "models": {}}}
        client = LlmClient(providers, cache_enabled=False)
        sdk = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=30)
        cases = {
            "raw SDK": lambda: sdk.chat.completions.create(model="m", messages=MESSAGES),
            "LlmClient": lambda: client.chat(model="bench/m", messages=MESSAGES),
            "LlmClient streaming": lambda: client.chat(
                model="bench/m", messages=MESSAGES, on_delta=lambda _: None
            ),
        }
        for name, function in cases.items():
            function()  # warm the connection pool and imports
            for threads in (1, args.threads):
                started = time.perf_counter()
                latencies = timed(function, args.calls, threads)
                report(f"{name} ×{threads}", latencies, time.perf_counter() - started)


if __name__ == "__main__":
    main()
